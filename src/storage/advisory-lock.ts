import { type Kysely, sql } from 'kysely';

/**
 * Runs `work` while holding the session advisory lock `name`, unless another session holds
 * it: then null, at once. The lock needs one connection from lock to unlock, which `work`
 * does not get (it uses others); should that connection die, the lock goes with it.
 */
export function whileHolding<DB, T>(
  db: Kysely<DB>,
  name: string,
  work: () => Promise<T>,
): Promise<T | null> {
  const lock = sql`hashtext(${name})`;
  return db.connection().execute(async (connection) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_lock(${lock}) as locked`.execute(connection);
    if (rows[0]?.locked !== true) return null;
    try {
      return await work();
    } finally {
      await sql`select pg_advisory_unlock(${lock})`.execute(connection);
    }
  });
}
