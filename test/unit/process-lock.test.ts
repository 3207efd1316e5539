import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryInUseError, lockDirectory } from '../../src/storage/process-lock.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'llm-backend-lock-'));

describe('lockDirectory', () => {
  it('claims a directory for this process and releases it', () => {
    const dir = fresh();
    const release = lockDirectory(dir);
    expect(readFileSync(join(dir, 'owner.pid'), 'utf8')).toBe(String(process.pid));
    release();
    expect(existsSync(join(dir, 'owner.pid'))).toBe(false);
  });

  it('refuses a directory held by another live process, naming it', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'owner.pid'), String(process.ppid));
    expect(() => lockDirectory(dir)).toThrow(DirectoryInUseError);
    expect(() => lockDirectory(dir)).toThrow(`in use by process ${process.ppid}`);
  });

  it('takes over the lock of a process that died', () => {
    const dir = fresh();
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    writeFileSync(join(dir, 'owner.pid'), String(dead));
    const release = lockDirectory(dir);
    expect(readFileSync(join(dir, 'owner.pid'), 'utf8')).toBe(String(process.pid));
    release();
  });
});
