import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const KEY = 'k'.repeat(40);
const OLD = 'o'.repeat(40);

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('MASTER_KEY_PREVIOUS', () => {
  it('is null unless set, and read like MASTER_KEY, directly or from a file', () => {
    expect(loadConfig({ MASTER_KEY: KEY }).env.masterKeyPrevious).toBeNull();
    expect(loadConfig({ MASTER_KEY: KEY, MASTER_KEY_PREVIOUS: OLD }).env.masterKeyPrevious).toBe(
      OLD,
    );
    const path = join(mkdtempSync(join(tmpdir(), 'llm-backend-mkp-')), 'previous');
    writeFileSync(path, `${OLD}\n`);
    expect(
      loadConfig({ MASTER_KEY: KEY, MASTER_KEY_PREVIOUS_FILE: path }).env.masterKeyPrevious,
    ).toBe(OLD);
  });

  it('refuses a short key, the current key again, or both forms, never echoing the key', () => {
    const short = problemsOf({ MASTER_KEY: KEY, MASTER_KEY_PREVIOUS: 'short-old-key' });
    expect(short).toContain('MASTER_KEY_PREVIOUS must be at least 32 characters');
    const same = problemsOf({ MASTER_KEY: KEY, MASTER_KEY_PREVIOUS: KEY });
    expect(same.join('\n')).toMatch(/MASTER_KEY_PREVIOUS is the same as MASTER_KEY/);
    const both = problemsOf({ MASTER_KEY_PREVIOUS: OLD, MASTER_KEY_PREVIOUS_FILE: '/nowhere' });
    expect(both.join('\n')).toContain('MASTER_KEY_PREVIOUS and MASTER_KEY_PREVIOUS_FILE');
    for (const problem of [...short, ...same, ...both]) {
      expect(problem).not.toContain(KEY);
      expect(problem).not.toContain('short-old-key');
    }
  });
});
