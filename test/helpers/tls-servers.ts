import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestCa, TestCertificate } from './certificates.js';
import { postgresDir } from './postgres-process.js';
import { startUntil, stopChild } from './processes.js';

/** A server process of the test's own, on a free port, stopped by `stop()`. */
export interface TlsServer {
  port: number;
  stop(): Promise<void>;
}

import { freePort } from './ports.js';

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

/**
 * A PostgreSQL cluster of the test's own (initdb into a temporary directory) that accepts
 * TLS connections only: `hostnossl` lines reject every plain one. Trust authentication, user
 * `postgres`. As root, it runs as the `postgres` user.
 */
export async function startTlsPostgres(cert: TestCertificate): Promise<TlsServer> {
  const port = await freePort();
  const pg = postgresDir('llm-backend-pg-tls-');
  try {
    // The server checks its key is its own and private.
    const certFile = join(pg.dir, 'server.pem');
    const keyFile = join(pg.dir, 'server.key');
    const hbaFile = join(pg.dir, 'pg_hba.conf');
    copyFileSync(cert.certFile, certFile);
    copyFileSync(cert.keyFile, keyFile);
    chmodSync(keyFile, 0o600);
    writeFileSync(
      hbaFile,
      'hostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\nlocal all all trust\n',
    );
    for (const path of [certFile, keyFile, hbaFile]) pg.own(path);
    const child = await pg.start(pg.initdb('data'), port, {
      ssl: 'on',
      ssl_cert_file: certFile,
      ssl_key_file: keyFile,
      hba_file: hbaFile,
      max_connections: '100',
    });
    return {
      port,
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
