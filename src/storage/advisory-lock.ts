import { type Kysely, sql } from 'kysely';

/**
 * Runs `work` while holding the advisory lock `name`, unless another session holds it: then
 * null, at once. The lock is a transaction's, held by a transaction left open on one
 * connection until `work` ends (`work` uses other connections): a transaction keeps its
 * server connection even through PgBouncer in transaction mode, where a session-level lock
 * would be taken on one server connection and released on another. The transaction only
 * takes the lock, so it holds back no vacuum. Should its connection die, the lock goes too.
 */
export function whileHolding<DB, T>(
  db: Kysely<DB>,
  name: string,
  work: () => Promise<T>,
): Promise<T | null> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_xact_lock(hashtext(${name})) as locked`.execute(trx);
    if (rows[0]?.locked !== true) return null;
    return work();
  });
}
