import { X509Certificate } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** The files the gateway's own HTTPS certificate is read from, again on every SIGHUP. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** Why a certificate and key cannot be used, naming the setting, never the key's content. */
export class TlsMaterialError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsMaterialError';
  }
}

function readSetting(name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new TlsMaterialError(`${name}: cannot read ${path} (${code})`, { cause: error });
  }
}

/**
 * Reads the certificate chain and its private key and checks they make a pair, so a bad file
 * fails where it is read (at start, or at a reload that then keeps the old certificate), not
 * at the first client's handshake. OpenSSL's reason is kept: it names what is wrong
 * ("key values mismatch", "no start line") without quoting the key.
 */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const cert = readSetting('TLS_CERT_FILE', files.certFile);
  const key = readSetting('TLS_KEY_FILE', files.keyFile);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsMaterialError(
      `TLS_CERT_FILE and TLS_KEY_FILE (${files.certFile}, ${files.keyFile}) are not a usable certificate and private key: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { cert, key };
}

/**
 * TLS_CERT_FILE and TLS_KEY_FILE go together; both files are read and checked now so a
 * start with a bad one exits with the setting's name.
 */
export function readTlsFiles(
  certFile: string | undefined,
  keyFile: string | undefined,
  errors: string[],
): TlsFiles | null {
  const cert = certFile === '' ? undefined : certFile;
  const key = keyFile === '' ? undefined : keyFile;
  if (cert === undefined && key === undefined) return null;
  if (cert === undefined || key === undefined) {
    errors.push('TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither');
    return null;
  }
  const files = { certFile: cert, keyFile: key };
  try {
    readTlsMaterial(files);
  } catch (error) {
    errors.push((error as Error).message);
    return null;
  }
  return files;
}

/**
 * A CA bundle (PEM) that Redis servers' certificates are checked against, for `rediss://`
 * with a private CA; the system's CAs are used without it.
 */
export function readRedisCa(
  path: string | undefined,
  redisUrl: string | null,
  errors: string[],
): string | null {
  if (path === undefined || path === '') return null;
  if (redisUrl === null || !/^rediss(\+cluster)?:/.test(redisUrl)) {
    errors.push('REDIS_TLS_CA_FILE needs a rediss:// REDIS_URL: the CA checks a TLS connection');
    return null;
  }
  let ca: string;
  try {
    ca = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    errors.push(`REDIS_TLS_CA_FILE: cannot read ${path} (${code})`);
    return null;
  }
  try {
    // The first certificate of the bundle; the TLS layer itself skips what it cannot parse.
    new X509Certificate(ca);
  } catch {
    errors.push(`REDIS_TLS_CA_FILE: ${path} holds no PEM certificate`);
    return null;
  }
  return ca;
}

/**
 * The files a PostgreSQL URL names (`sslrootcert`, `sslcert`, `sslkey`), which the driver
 * reads only when it first connects: one that cannot be read is reported at start with the
 * variable's name. The paths are named, never the URL, which may hold a password.
 */
export function checkPostgresTlsFiles(value: string | null, name: string, errors: string[]): void {
  if (value === null || !URL.canParse(value)) return;
  const params = new URL(value).searchParams;
  for (const param of ['sslrootcert', 'sslcert', 'sslkey']) {
    const path = params.get(param);
    if (path === null || path === '') continue;
    try {
      accessSync(path, constants.R_OK);
    } catch {
      errors.push(`${name}: the ${param} file ${path} cannot be read`);
    }
  }
}
