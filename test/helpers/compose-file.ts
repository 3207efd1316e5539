import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { readEnv } from '../../src/config/env.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** KEY=value lines of an env file (docker compose's `.env`): comments and blanks skipped. */
export function readEnvFile(path: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match) entries.set(match[1] as string, match[2] as string);
  }
  return entries;
}

/** Every variable the compose file interpolates (${NAME}, ${NAME:-x}, ${NAME:?x}...). */
export function interpolatedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.replaceAll('$$', '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g))
    names.add(match[1] as string);
  return names;
}

/**
 * What `docker compose config` does before it validates: ${NAME}, ${NAME:-default},
 * ${NAME-default}, ${NAME:?error} and ${NAME?error} replaced from `variables`, $$ kept as one
 * $. A required variable that is missing (or empty, for :?) is an error, as there.
 */
export function interpolate(text: string, variables: ReadonlyMap<string, string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g,
    (whole, name: string | undefined, colon: string | undefined, op, argument: string) => {
      if (name === undefined) return '$';
      const value = variables.get(name);
      const missing = value === undefined || (colon === ':' && value === '');
      if (op === '-') return missing ? argument : (value as string);
      if (op === '?') {
        if (missing) throw new Error(`compose: ${name} is required (${argument}): ${whole}`);
        return value as string;
      }
      return value ?? '';
    },
  );
}

export interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string | number | null>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  deploy?: { replicas?: number };
  [key: string]: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  [key: string]: unknown;
}

/** docker-compose.yml as compose reads it: interpolated, YAML merge keys applied. */
export function loadCompose(variables: ReadonlyMap<string, string>): ComposeFile {
  const text = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
  return parse(interpolate(text, variables), { merge: true }) as ComposeFile;
}

/**
 * .env.example with a value for every variable the compose file requires (${NAME:?...}), as
 * an operator's .env would have; the optional ones stay as the example leaves them.
 */
export function exampleVariables(): Map<string, string> {
  const variables = readEnvFile(join(REPO_ROOT, '.env.example'));
  const text = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
  const required = new Set(
    [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):\?/g)].map((match) => match[1] as string),
  );
  for (const name of required)
    if (!variables.get(name))
      variables.set(name, `test-${name.toLowerCase().replaceAll('_', '-')}-0123456789abcdef`);
  return variables;
}

/**
 * The environment variables the gateway accepts, found by running its own reader: every
 * name readEnv looks up (NAME_FILE included, for secrets) and every variable the given config
 * files name for provider keys and database server URLs (api_key_env, url_env...).
 */
export function acceptedEnvNames(configFiles: readonly string[]): Set<string> {
  const names = new Set<string>();
  const recorder = new Proxy<Record<string, string | undefined>>(
    {},
    {
      get(_target, key) {
        if (typeof key === 'string') names.add(key);
        return undefined;
      },
    },
  );
  readEnv(recorder, []);
  const visit = (node: unknown) => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key.endsWith('_env') && typeof value === 'string') {
        names.add(value);
        names.add(`${value}_FILE`);
      }
      visit(value);
    }
  };
  for (const file of configFiles) visit(parse(readFileSync(file, 'utf8')));
  return names;
}
