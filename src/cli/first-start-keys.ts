import { mkdir, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FirstStart } from '../server.js';

export const KEYS_FILE = 'first-start-keys.txt';

/** The two log levels used here; the server's pino logger is one. */
export interface KeysLog {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface HandOver {
  /** Where the file goes: DATA_DIR, made if missing. */
  dataDir: string;
  log: KeysLog;
  /** A terminal someone watches (stderr when it is a TTY), or null: then the file only. */
  terminal: NodeJS.WritableStream | null;
  now?: Date;
}

/** Shell lines, so `. ./data/first-start-keys.txt` sets the variables the README uses. */
function fileText({ platformAdminKey, defaultTenantKey }: FirstStart, at: Date): string {
  const lines = [
    `# Keys made by llm-backend's first start, ${at.toISOString()}. They are stored nowhere`,
    '# else: keep them somewhere safe, then delete this file.',
  ];
  if (platformAdminKey !== null)
    lines.push(
      '# The platform admin key: manages tenants (/admin/v1).',
      `export ADMIN_KEY=${platformAdminKey}`,
    );
  if (defaultTenantKey !== null)
    lines.push(
      "# The owner key of the tenant 'default': calls the models (/v1).",
      `export LLM_BACKEND_KEY=${defaultTenantKey}`,
    );
  return `${lines.join('\n')}\n`;
}

function terminalText({ platformAdminKey, defaultTenantKey }: FirstStart, file: string | null) {
  let text = '';
  if (platformAdminKey !== null)
    text += `\nFirst start: created a platform admin key (manages tenants; store it now):\n\n  ${platformAdminKey}\n`;
  if (defaultTenantKey !== null)
    text += `\nCreated tenant 'default' and its owner API key (calls /v1; store it now):\n\n  ${defaultTenantKey}\n`;
  const where =
    file === null
      ? 'They could not be saved to a file: this is the only copy.'
      : `Also saved in ${file} (readable by you only); delete it once stored.`;
  return `${text}\n${where}\n\n`;
}

/**
 * Creates the file, readable and writable by the owner only. 'wx' never reuses a file, or a
 * link, already there: a file left by an earlier first start gets a dated sibling instead.
 */
async function writeKeysFile(dataDir: string, text: string, at: Date): Promise<string> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const dated = `first-start-keys-${at.toISOString().replace(/[-:.]/g, '')}.txt`;
  for (const name of [KEYS_FILE, dated]) {
    const path = resolve(join(dataDir, name));
    const file = await open(path, 'wx', 0o600).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST' && name === KEYS_FILE) return null;
      throw error;
    });
    if (file === null) continue;
    try {
      // The mode given to open() is narrowed by the umask only; make it exact anyway.
      await file.chmod(0o600);
      await file.writeFile(text);
    } finally {
      await file.close();
    }
    return path;
  }
  throw new Error('unreachable: the dated name either opens or throws');
}

/**
 * Hands the keys the first start made to the operator without putting them in the log
 * (log lines on stdout are collected and kept): always to a file under DATA_DIR that only
 * the owner can read, and on the terminal when there is one. The log says where the file
 * is, never what it holds.
 */
export async function handOverFirstStartKeys(keys: FirstStart, to: HandOver): Promise<void> {
  if (keys.platformAdminKey === null && keys.defaultTenantKey === null) return;
  const at = to.now ?? new Date();
  const made = {
    platformAdminKey: keys.platformAdminKey !== null,
    defaultTenantKey: keys.defaultTenantKey !== null,
  };
  let file: string | null = null;
  try {
    file = await writeKeysFile(to.dataDir, fileText(keys, at), at);
    to.log.info({ ...made, file }, `first start: new keys saved in ${file}`);
  } catch (error) {
    // Not fatal: the keys exist now, and the next start is no first start to retry on.
    to.log.error(
      { ...made, err: error },
      "first start: could not save the new keys; if they were not shown either, make new ones with 'llm-backend admin-key create' and 'llm-backend key create default --role owner' (with the embedded databases, stop the server first)",
    );
  }
  to.terminal?.write(terminalText(keys, file));
}
