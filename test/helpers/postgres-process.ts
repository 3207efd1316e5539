import { type ChildProcess, execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startUntil } from './processes.js';

/**
 * Where initdb and postgres are: TEST_POSTGRES_BIN, or Debian's layout (the newest major
 * version under /usr/lib/postgresql). Null when neither has them.
 */
export function postgresBin(): string | null {
  const given = process.env.TEST_POSTGRES_BIN;
  if (given !== undefined) return given;
  const debian = '/usr/lib/postgresql';
  if (!existsSync(debian)) return null;
  const versions = readdirSync(debian)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  const found = versions.map((version) => join(debian, version, 'bin'));
  return found.find((bin) => existsSync(join(bin, 'initdb'))) ?? null;
}

/** The uid and gid PostgreSQL runs as when the tests run as root, which it refuses. */
export function postgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Lets the PostgreSQL user reach `dir`: every directory above it gets search (x) permission
 * for others if it lacks it (the test run's temporary root is private to root). Nothing is
 * made readable.
 */
export function traversable(dir: string): void {
  for (let at = dirname(dir); at !== dirname(at); at = dirname(at)) {
    const mode = statSync(at).mode;
    if ((mode & 0o001) === 0) chmodSync(at, (mode & 0o7777) | 0o001);
  }
}

/**
 * A temporary directory for PostgreSQL servers of a test's own, and how to run PostgreSQL's
 * programs there: as the `postgres` user when the tests run as root (PostgreSQL refuses
 * root), every binary from one directory (TEST_POSTGRES_BIN or Debian's newest).
 */
export interface PostgresDir {
  dir: string;
  /** Gives `path` to the user PostgreSQL runs as. */
  own(path: string): void;
  /** Runs one of PostgreSQL's programs (initdb, pg_basebackup) to its end. */
  run(program: string, args: string[]): void;
  /** A new cluster in `<dir>/<name>` (user `postgres`, trust authentication); its path. */
  initdb(name: string): string;
  /**
   * Starts `postgres` on `data`, listening on 127.0.0.1:`port` and a socket in the directory
   * (fsync off: a test's server), with `settings` on top, once its output shows `ready`.
   */
  start(
    data: string,
    port: number,
    settings: Record<string, string>,
    ready?: RegExp,
  ): Promise<ChildProcess>;
  remove(): void;
}

const READY = /database system is ready to accept connections/;

export function postgresDir(prefix: string): PostgresDir {
  const bin = postgresBin();
  if (bin === null)
    throw new Error(
      'No PostgreSQL server binaries (initdb, postgres) found: set TEST_POSTGRES_BIN to their directory',
    );
  const user = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const own = (path: string) => {
    if (user !== null) chownSync(path, user.uid, user.gid);
  };
  if (user !== null) traversable(dir);
  own(dir);
  const asPostgres = (program: string, args: string[]) =>
    user === null
      ? { command: join(bin, program), args }
      : {
          command: 'setpriv',
          args: [
            `--reuid=${user.uid}`,
            `--regid=${user.gid}`,
            '--clear-groups',
            join(bin, program),
            ...args,
          ],
        };
  const remove = () => rmSync(dir, { recursive: true, force: true });
  return {
    dir,
    own,
    remove,
    run(program, args) {
      const call = asPostgres(program, args);
      execFileSync(call.command, call.args, {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { PATH: process.env.PATH ?? '' },
      });
    },
    initdb(name) {
      const data = join(dir, name);
      this.run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
      return data;
    },
    start(data, port, settings, ready = READY) {
      const all = {
        listen_addresses: '127.0.0.1',
        port: String(port),
        unix_socket_directories: dir,
        fsync: 'off',
        ...settings,
      };
      const call = asPostgres('postgres', [
        '-D',
        data,
        ...Object.entries(all).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
      ]);
      return startUntil(call.command, call.args, ready, () => {});
    },
  };
}
