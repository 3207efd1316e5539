import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestCa, TestCertificate } from './certificates.js';

/** A server process of the test's own, on a free port, stopped by `stop()`. */
export interface TlsServer {
  port: number;
  stop(): Promise<void>;
}

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

import { freePort } from './ports.js';

export { freePort };

/** Starts `command`, resolving once its output shows `ready`; rejects if it exits first. */
export async function startUntil(
  command: string,
  args: string[],
  ready: RegExp,
  cleanup: () => void,
): Promise<ChildProcess> {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += data.toString();
      if (ready.test(output)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      cleanup();
      reject(new Error(`${command} exited (${code}) before it was ready:\n${output}`));
    });
  });
  return child;
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

/** A Redis with TLS only (no plain port), its certificate from the test's CA. */
export async function startTlsRedis(ca: TestCa, cert: TestCertificate): Promise<TlsServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-redis-tls-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const args = ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1'];
  args.push('--tls-cert-file', cert.certFile, '--tls-key-file', cert.keyFile);
  args.push('--tls-ca-cert-file', ca.certFile, '--tls-auth-clients', 'no');
  args.push('--save', '', '--appendonly', 'no', '--dir', dir);
  const child = await startUntil('redis-server', args, /Ready to accept connections/, remove);
  return {
    port,
    stop: async () => {
      await stopChild(child, 'SIGTERM');
      remove();
    },
  };
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
 * A PostgreSQL cluster of the test's own (initdb into a temporary directory) that accepts
 * TLS connections only: `hostnossl` lines reject every plain one. Trust authentication, user
 * `postgres`. As root, it runs as the `postgres` user.
 */
export async function startTlsPostgres(cert: TestCertificate): Promise<TlsServer> {
  const bin = postgresBin();
  if (bin === null)
    throw new Error(
      'No PostgreSQL server binaries (initdb, postgres) found: set TEST_POSTGRES_BIN to their directory',
    );
  const port = await freePort();
  const user = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-pg-tls-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const own = (path: string) => {
    if (user !== null) chownSync(path, user.uid, user.gid);
  };
  if (user !== null) traversable(dir);
  own(dir);
  // The server checks its key is its own and private.
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server.key');
  const hbaFile = join(dir, 'pg_hba.conf');
  copyFileSync(cert.certFile, certFile);
  copyFileSync(cert.keyFile, keyFile);
  chmodSync(keyFile, 0o600);
  writeFileSync(
    hbaFile,
    'hostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\nlocal all all trust\n',
  );
  for (const path of [certFile, keyFile, hbaFile]) own(path);
  const asPostgres = (command: string, args: string[]) =>
    user === null
      ? { command, args }
      : {
          command: 'setpriv',
          args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', command, ...args],
        };
  const data = join(dir, 'data');
  const initdb = asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust']);
  try {
    execFileSync(initdb.command, initdb.args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '' },
    });
  } catch (error) {
    remove();
    throw error;
  }
  const settings = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    ssl: 'on',
    ssl_cert_file: certFile,
    ssl_key_file: keyFile,
    hba_file: hbaFile,
    fsync: 'off',
    max_connections: '100',
  };
  const postgres = asPostgres(join(bin, 'postgres'), [
    '-D',
    data,
    ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ]);
  const child = await startUntil(
    postgres.command,
    postgres.args,
    /database system is ready to accept connections/,
    remove,
  );
  return {
    port,
    stop: async () => {
      // SIGINT: PostgreSQL's fast shutdown, which does not wait for clients to leave.
      await stopChild(child, 'SIGINT');
      remove();
    },
  };
}
