import { freePort } from './ports.js';
import { postgresDir } from './postgres-process.js';
import { stopChild } from './processes.js';

/** A PostgreSQL server of the test's own: a second server for tenants to live on. */
export interface SecondPostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  stop(): Promise<void>;
}

/**
 * initdb into a temporary directory and a server on a free port (trust authentication, user
 * `postgres`; as root, it runs as the `postgres` user), stopped and removed by `stop()`.
 */
export async function startSecondPostgres(): Promise<SecondPostgres> {
  const port = await freePort();
  const pg = postgresDir('llm-backend-pg-second-');
  try {
    const child = await pg.start(pg.initdb('data'), port, { max_connections: '200' });
    return {
      port,
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      stop: async () => {
        // SIGINT: PostgreSQL's fast shutdown, which does not wait for clients to leave.
        await stopChild(child, 'SIGINT');
        pg.remove();
      },
    };
  } catch (error) {
    pg.remove();
    throw error;
  }
}
