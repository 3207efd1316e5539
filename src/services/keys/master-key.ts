import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvConfig } from '../../config/env.js';
import { ConfigError } from '../../config/load.js';

/**
 * The secret API keys are hashed with. Every instance must share it, so with a database
 * server it must come from MASTER_KEY; the embedded single-instance default keeps a
 * generated one in DATA_DIR, readable by its owner only.
 */
export function resolveMasterKey(env: EnvConfig): string {
  if (env.masterKey !== null) return env.masterKey;
  if (env.databaseUrl !== null) {
    throw new ConfigError(['MASTER_KEY (or MASTER_KEY_FILE) is required when DATABASE_URL is set']);
  }
  const path = join(env.dataDir, 'master.key');
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    mkdirSync(env.dataDir, { recursive: true });
    const key = randomBytes(48).toString('base64url');
    // 'wx' fails if another process created it meanwhile; then read theirs.
    try {
      writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
      return key;
    } catch {
      return readFileSync(path, 'utf8').trim();
    }
  }
}
