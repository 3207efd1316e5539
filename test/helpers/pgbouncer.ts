import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { postgresUser, traversable } from './postgres-process.js';
import { startUntil, stopChild } from './processes.js';

/** A PgBouncer of the test's own in transaction mode, in front of one PostgreSQL. */
export interface PgBouncer {
  port: number;
  /** `url` (a postgres:// URL) with its host and port swapped for PgBouncer's. */
  through(url: string): string;
  /** Runs a command on PgBouncer's admin console (SHOW STATS...), as `postgres`. */
  show<Row extends Record<string, unknown>>(command: string): Promise<Row[]>;
  stop(): Promise<void>;
}

/**
 * Starts `pgbouncer` on a free port with a generated ini: pool_mode=transaction, trust
 * authentication for the roles listed (PgBouncer wants each user in its auth_file even so),
 * and a wildcard database entry, so any database on the server (every tenant's) resolves. As
 * root it runs as the `postgres` user: PgBouncer refuses to run as root.
 */
export async function startPgBouncer(
  server: { host: string; port: number },
  users: readonly string[] = ['postgres'],
): Promise<PgBouncer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-pgbouncer-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const user = postgresUser();
  const authFile = join(dir, 'userlist.txt');
  const iniFile = join(dir, 'pgbouncer.ini');
  writeFileSync(authFile, users.map((name) => `"${name}" ""\n`).join(''));
  writeFileSync(
    iniFile,
    [
      '[databases]',
      `* = host=${server.host} port=${server.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${authFile}`,
      'pool_mode = transaction',
      'max_client_conn = 1000',
      'default_pool_size = 20',
      'admin_users = postgres',
      // node-postgres may send these; PgBouncer refuses unknown startup parameters.
      'ignore_startup_parameters = extra_float_digits,options',
      '',
    ].join('\n'),
  );
  if (user !== null) {
    traversable(dir);
    for (const path of [dir, authFile, iniFile]) chownSync(path, user.uid, user.gid);
  }
  const command =
    user === null
      ? { command: 'pgbouncer', args: [iniFile] }
      : {
          command: 'setpriv',
          args: [
            `--reuid=${user.uid}`,
            `--regid=${user.gid}`,
            '--clear-groups',
            'pgbouncer',
            iniFile,
          ],
        };
  const child = await startUntil(command.command, command.args, /process up/, remove);
  return {
    port,
    through(url) {
      const target = new URL(url);
      target.hostname = '127.0.0.1';
      target.port = String(port);
      return target.toString();
    },
    async show<Row extends Record<string, unknown>>(text: string) {
      const client = new pg.Client({
        connectionString: `postgres://postgres@127.0.0.1:${port}/pgbouncer`,
      });
      await client.connect();
      try {
        return (await client.query<Row>(text)).rows;
      } finally {
        await client.end();
      }
    },
    stop: async () => {
      // SIGTERM: PgBouncer stops at once, dropping its connections.
      await stopChild(child, 'SIGTERM');
      remove();
    },
  };
}
