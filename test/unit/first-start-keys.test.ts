import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { handOverFirstStartKeys, KEYS_FILE } from '../../src/cli/first-start-keys.js';

const ADMIN = 'llmb_admin000000000000000000000000000000000';
const TENANT = 'llmb_tenant00000000000000000000000000000000';
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-keys-'));
  dirs.push(dir);
  return dir;
}

/** A log and a terminal that keep what they were given. */
function sinks() {
  const logged: { level: string; details: object; message: string }[] = [];
  let shown = '';
  const log = {
    info: (details: object, message: string) => logged.push({ level: 'info', details, message }),
    error: (details: object, message: string) => logged.push({ level: 'error', details, message }),
  };
  const terminal = new Writable({
    write(chunk, _encoding, done) {
      shown += String(chunk);
      done();
    },
  });
  return { log, logged, terminal, shown: () => shown };
}

const both = { platformAdminKey: ADMIN, defaultTenantKey: TENANT };

describe('handOverFirstStartKeys', () => {
  it('writes the keys to an owner-only file and logs where, never what', async () => {
    const dataDir = join(scratch(), 'data');
    const { log, logged } = sinks();
    await handOverFirstStartKeys(both, { dataDir, log, terminal: null });
    const file = join(dataDir, KEYS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(new RegExp(`^export ADMIN_KEY=${ADMIN}$`, 'm'));
    expect(text).toMatch(new RegExp(`^export LLM_BACKEND_KEY=${TENANT}$`, 'm'));
    expect(logged).toEqual([
      {
        level: 'info',
        details: { platformAdminKey: true, defaultTenantKey: true, file },
        message: `first start: new keys saved in ${file}`,
      },
    ]);
    expect(JSON.stringify(logged)).not.toMatch(/llmb_/);
  });

  it('shows the keys on a terminal as well, and names the file', async () => {
    const dataDir = scratch();
    const { log, terminal, shown } = sinks();
    await handOverFirstStartKeys(both, { dataDir, log, terminal });
    expect(shown()).toContain(`\n  ${ADMIN}\n`);
    expect(shown()).toContain(`\n  ${TENANT}\n`);
    expect(shown()).toContain(join(dataDir, KEYS_FILE));
  });

  it('never reuses a file or link already there', async () => {
    const dataDir = scratch();
    const elsewhere = join(scratch(), 'target');
    symlinkSync(elsewhere, join(dataDir, KEYS_FILE));
    const { log, logged } = sinks();
    await handOverFirstStartKeys(
      { platformAdminKey: ADMIN, defaultTenantKey: null },
      { dataDir, log, terminal: null, now: new Date('2027-01-02T03:04:05.678Z') },
    );
    const dated = 'first-start-keys-20270102T030405678Z.txt';
    expect(readdirSync(dataDir).sort()).toEqual([dated, KEYS_FILE]);
    expect(readdirSync(join(elsewhere, '..'))).toEqual([]);
    const text = readFileSync(join(dataDir, dated), 'utf8');
    expect(text).toContain(ADMIN);
    expect(text).not.toContain('LLM_BACKEND_KEY');
    expect(logged[0]?.details).toMatchObject({ defaultTenantKey: false });
  });

  it('logs an error without the keys when the file cannot be written', async () => {
    // DATA_DIR below a regular file cannot be made.
    const blocker = join(scratch(), 'a-file');
    writeFileSync(blocker, '');
    const { log, logged, terminal, shown } = sinks();
    await handOverFirstStartKeys(both, { dataDir: join(blocker, 'data'), log, terminal });
    expect(logged.map((entry) => entry.level)).toEqual(['error']);
    expect(JSON.stringify(logged)).not.toMatch(/llmb_/);
    expect(shown()).toContain(`\n  ${ADMIN}\n`);
    expect(shown()).toContain('this is the only copy');
  });

  it('does nothing when no key was made', async () => {
    const dataDir = scratch();
    const { log, logged } = sinks();
    await handOverFirstStartKeys(
      { platformAdminKey: null, defaultTenantKey: null },
      { dataDir, log, terminal: null },
    );
    expect(readdirSync(dataDir)).toEqual([]);
    expect(logged).toEqual([]);
  });
});
