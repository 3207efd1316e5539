import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A test certificate authority: certificates it issues are trusted with its `pem` alone. */
export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
  pem: string;
}

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  /** The SHA-256 fingerprint, as a TLS peer certificate reports it (`fingerprint256`). */
  fingerprint: string;
}

/** A P-256 key, unencrypted: quick to make. */
const NEW_KEY = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';

/** openssl, quietly, its arguments split on spaces (no path here has one); throws on failure. */
function openssl(args: string, cwd: string): void {
  execFileSync('openssl', args.split(' '), { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh CA in a directory of its own, made with the openssl command line. */
export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-tls-'));
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca.key');
  const extensions =
    '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign';
  openssl(
    `req -x509 ${NEW_KEY} -keyout ${keyFile} -out ${certFile} -days 2 -subj /CN=llm-backend-test-ca ${extensions}`,
    dir,
  );
  return { dir, certFile, keyFile, pem: readFileSync(certFile, 'utf8') };
}

/**
 * A server certificate from `ca` for 127.0.0.1 and localhost; `name` tells the files apart,
 * so one CA can issue the certificate a reload replaces and its successor.
 */
export function issueCertificate(ca: TestCa, name: string): TestCertificate {
  const keyFile = join(ca.dir, `${name}.key`);
  const certFile = join(ca.dir, `${name}.pem`);
  const request = join(ca.dir, `${name}.csr`);
  const extensions = join(ca.dir, `${name}.ext`);
  writeFileSync(
    extensions,
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  openssl(`req ${NEW_KEY} -keyout ${keyFile} -out ${request} -subj /CN=${name}`, ca.dir);
  openssl(
    `x509 -req -in ${request} -CA ${ca.certFile} -CAkey ${ca.keyFile} -CAcreateserial -out ${certFile} -days 2 -extfile ${extensions}`,
    ca.dir,
  );
  const fingerprint = new X509Certificate(readFileSync(certFile)).fingerprint256;
  return { certFile, keyFile, fingerprint };
}
