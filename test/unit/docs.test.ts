import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { errorRegistry } from '../../src/errors/registry.js';
import { EVENT_TYPES } from '../../src/services/events/catalogue.js';
import { alertDataTable, eventsTable } from '../../src/services/events/catalogue-docs.js';
import { ANTHROPIC_ERROR_TYPES } from '../../src/services/messages/errors.js';

const read = (relative: string) => readFileSync(new URL(relative, import.meta.url), 'utf8');

/** The cells of the Markdown table rows (lines starting with `|`) in a block of text. */
function tableRows(markdown: string): string[][] {
  return markdown
    .split('\n')
    .filter((line) => line.trimStart().startsWith('|'))
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split('|')
        .map((cell) => cell.trim()),
    );
}

/** The text under a `## heading`, up to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${heading}`);
  if (start === -1) throw new Error(`no '## ${heading}' section`);
  const end = lines.findIndex((line, index) => index > start && /^#{1,2} /.test(line));
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** The backticked value of each row's first cell that matches `pattern`. */
function firstCellCodes(rows: string[][], pattern: RegExp): string[] {
  const codes: string[] = [];
  for (const [first] of rows) {
    const match = first?.match(/^`([^`]+)`$/);
    if (match?.[1] !== undefined && pattern.test(match[1])) codes.push(match[1]);
  }
  return codes;
}

describe('docs/errors.md', () => {
  const errorsDoc = read('../../docs/errors.md');
  const tableCodes = firstCellCodes(
    tableRows(section(errorsDoc, 'Error codes')),
    /^[a-z][a-z0-9_]*$/,
  );

  it('documents every code of the error registry', () => {
    for (const code of Object.keys(errorRegistry)) {
      expect(errorsDoc, `docs/errors.md should mention \`${code}\``).toContain(`\`${code}\``);
      expect(tableCodes, `the codes table should have a row for ${code}`).toContain(code);
    }
  });

  it('lists only codes of the registry in its codes table', () => {
    expect(tableCodes.length).toBeGreaterThan(0);
    for (const code of tableCodes) {
      expect(Object.keys(errorRegistry), `${code} is not in the error registry`).toContain(code);
    }
    expect(new Set(tableCodes).size).toBe(tableCodes.length);
  });

  it('gives each code the status and type of the registry', () => {
    for (const row of tableRows(section(errorsDoc, 'Error codes'))) {
      const code = row[0]?.match(/^`([a-z][a-z0-9_]*)`$/)?.[1];
      if (code === undefined || !Object.hasOwn(errorRegistry, code)) continue;
      const definition = errorRegistry[code as keyof typeof errorRegistry];
      expect(row[1], `status of ${code}`).toBe(String(definition.status));
      expect(row[2], `type of ${code}`).toBe(`\`${definition.type}\``);
    }
  });
});

/**
 * The table generated from the catalogue in a doc: what lies between the comment that names
 * catalogue.ts and the end marker. One per doc.
 */
function generatedTable(markdown: string): string {
  const start = markdown.indexOf('<!-- Generated from src/services/events/catalogue.ts');
  const end = markdown.indexOf('<!-- end of generated table -->');
  if (start === -1 || end < start) throw new Error('no generated table');
  expect(markdown.indexOf('<!-- Generated from', start + 1), 'a second generated table').toBe(-1);
  return markdown.slice(markdown.indexOf('-->', start) + 3, end).trim();
}

describe('the event catalogue in the docs', () => {
  it("is docs/webhooks.md's events table, row for row", () => {
    const doc = read('../../docs/webhooks.md');
    expect(generatedTable(doc)).toBe(eventsTable());
    // Every type has its row, and the table is the only one of the section.
    const rows = tableRows(section(doc, 'Events'));
    expect(firstCellCodes(rows, /^[a-z]/)).toEqual(Object.keys(EVENT_TYPES));
  });

  it("is docs/alerts.md's data table, and its alerts and audiences are the catalogue's", () => {
    const doc = read('../../docs/alerts.md');
    expect(generatedTable(doc)).toBe(alertDataTable());
    const alerts = Object.entries(EVENT_TYPES).filter(
      ([type]) => type.startsWith('alert.') && !type.endsWith('.resolved'),
    );
    const opening = tableRows(doc.slice(0, doc.indexOf('## Episodes')));
    expect(firstCellCodes(opening, /^alert\./)).toEqual(alerts.map(([type]) => type));
    const audience = { 'the tenant': 'tenant', 'operators (no tenant)': 'operator' } as const;
    for (const [type, event] of alerts) {
      const row = opening.find(([first]) => first === `\`${type}\``);
      const said = audience[row?.[1] as keyof typeof audience];
      expect(said, `who gets ${type} in docs/alerts.md`).toBe(event.audience);
    }
  });
});

describe('config/examples', () => {
  const dir = new URL('../../config/examples/', import.meta.url);
  const files = readdirSync(dir).filter((name) => /\.ya?ml$/.test(name));

  it('has the OpenAI, Ollama and vLLM examples', () => {
    expect(files).toEqual(expect.arrayContaining(['openai.yaml', 'ollama.yaml', 'vllm.yaml']));
  });

  it.each(files)('%s loads with loadConfig and defines models', (name) => {
    const path = fileURLToPath(new URL(name, dir));
    const raw = parseYaml(readFileSync(path, 'utf8')) as {
      providers?: Record<string, { api_key_env?: unknown }>;
    };
    const env: Record<string, string> = { CONFIG_FILE: path };
    for (const provider of Object.values(raw.providers ?? {})) {
      if (typeof provider.api_key_env === 'string') env[provider.api_key_env] = 'test-key';
    }
    const config = loadConfig(env);
    expect(config.models.length).toBeGreaterThan(0);
    for (const model of config.models) {
      for (const deployment of model.deployments)
        expect(config.providers.map((provider) => provider.id)).toContain(deployment.providerId);
    }
  });
});

describe('README.md', () => {
  const readme = read('../../README.md');
  const envSource = read('../../src/config/env.ts');
  const documented = firstCellCodes(
    tableRows(section(readme, 'Configuration')),
    /^[A-Z][A-Z0-9_]*$/,
  );
  const readByEnv = [
    ...envSource.matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b|\(\s*env,\s*'([A-Z][A-Z0-9_]*)'/g),
  ].map((match) => match[1] ?? match[2]);

  it('has the quickstart and test commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });

  it('documents only variables that src/config/env.ts reads', () => {
    expect(documented.length).toBeGreaterThan(0);
    for (const name of documented) {
      const mentioned = new RegExp(`\\b${name}\\b`).test(envSource);
      expect(mentioned, `${name} is not mentioned in src/config/env.ts`).toBe(true);
      expect(readByEnv, `src/config/env.ts does not read ${name}`).toContain(name);
    }
  });

  it('documents every variable that src/config/env.ts reads', () => {
    const expected = [
      'PORT',
      'HOST',
      'DATABASE_URL',
      'REDIS_URL',
      'DATA_DIR',
      'CONFIG_FILE',
      'MASTER_KEY',
      'LOG_LEVEL',
      'BODY_LIMIT_BYTES',
      'UPSTREAM_CONNECT_TIMEOUT_MS',
      'UPSTREAM_FIRST_BYTE_TIMEOUT_MS',
      'UPSTREAM_IDLE_TIMEOUT_MS',
      'SHUTDOWN_GRACE_MS',
    ];
    expect(readByEnv).toEqual(expect.arrayContaining(expected));
    for (const name of new Set([...expected, ...readByEnv])) {
      expect(documented, `${name} is missing from the README's table`).toContain(name);
    }
  });
});

describe('packages named in the docs', () => {
  const manifest = JSON.parse(read('../../package.json')) as Record<
    'dependencies' | 'devDependencies' | 'overrides',
    Record<string, unknown>
  >;
  const ours = new Set(
    [manifest.dependencies, manifest.devDependencies, manifest.overrides].flatMap(Object.keys),
  );
  const pages = [
    'README.md',
    ...readdirSync(new URL('../../docs/', import.meta.url))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`),
  ];
  // Names that can only be packages: scoped ones and js-... or ...-js. A page that says to
  // `npm install` one names an optional integration, not one the code uses.
  const packageName =
    /(?<![\w/@.-])(@[a-z0-9-]+\/[a-z0-9._-]+|[a-z0-9-]*\bjs-[a-z0-9-]+|[a-z0-9-]+-js)\b/g;

  it.each(pages)('%s names only packages of package.json or ones it says to install', (page) => {
    const text = read(`../../${page}`);
    const installed = new Set(
      [...text.matchAll(/npm install ((?:[@\w./-]+ ?)+)/g)].flatMap((match) =>
        (match[1] ?? '').split(' '),
      ),
    );
    for (const [, name] of text.matchAll(packageName)) {
      if (name === undefined) continue;
      expect(
        ours.has(name) || installed.has(name),
        `${page} names ${name}, which is not in package.json`,
      ).toBe(true);
    }
  });
});

describe("docs/api.md, Anthropic's Messages API", () => {
  it('maps each registry code to the Anthropic error type the code gives', () => {
    const messages = section(read('../../docs/api.md'), "Anthropic's Messages API");
    const doc = messages.slice(messages.indexOf('### Errors'));
    const documented: Record<string, string> = {};
    for (const [type, codes] of tableRows(doc)) {
      const name = type?.match(/^`([a-z_]+)`$/)?.[1];
      if (name === undefined || codes === undefined) continue;
      for (const code of codes.matchAll(/`([a-z_]+)`/g)) documented[String(code[1])] = name;
    }
    expect(documented).toEqual(ANTHROPIC_ERROR_TYPES);
  });
});
