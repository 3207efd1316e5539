import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Services } from '../../src/composition/services.js';
import { LIMIT_KIND_NAMES, type LimitKindName, limitKind } from '../../src/domain/limit-kinds.js';
import {
  describeEach,
  QUOTA_METRIC_NAMES,
  QUOTA_METRICS,
  QUOTA_PERIOD_NAMES,
  QUOTA_PERIODS,
} from '../../src/domain/quota.js';
import { registerDocs } from '../../src/plugins/docs.js';
import { limitRoutes } from '../../src/routes/admin/limits.js';
import { quotaRoutes } from '../../src/routes/admin/quotas.js';
import { section, tableRows } from '../helpers/markdown.js';

/**
 * A new limit kind is a row of src/domain/limit-kinds.ts, a migration adding its column and a
 * row in docs/rate-limits.md: everything else reads the catalogue. These checks walk it.
 */

const read = (relative: string) => readFileSync(new URL(relative, import.meta.url), 'utf8');
const number = (value: number) => value.toLocaleString('en-US');

/** The row docs/rate-limits.md must have for a kind, cell by cell. */
function docsRow(name: LimitKindName): string[] {
  const spec = limitKind(name);
  return [
    `\`${name}\``,
    spec.description,
    `${number(spec.min)} to ${number(spec.max)}`,
    spec.headers === null ? 'none' : `\`x-ratelimit-*-${spec.headers}\``,
    `\`${spec.errorType}\``,
    spec.per,
  ];
}

describe('docs/rate-limits.md', () => {
  const doc = read('../../docs/rate-limits.md');

  it('has the catalogue as its limit kinds table, row for row', () => {
    const [header, rule, ...rows] = tableRows(section(doc, 'Limit kinds'));
    expect(header?.[0]).toBe('Field');
    expect(rule?.every((cell) => /^-+$/.test(cell))).toBe(true);
    expect(rows).toEqual(LIMIT_KIND_NAMES.map(docsRow));
  });

  it('describes the quota metrics and periods as declared', () => {
    const rows = tableRows(section(doc, 'Quotas and budgets'));
    const cell = (field: string) => rows.find(([first]) => first === `\`${field}\``)?.[1];
    expect(cell('metric')).toBe(describeEach(QUOTA_METRICS));
    expect(cell('period')).toBe(describeEach(QUOTA_PERIODS));
  });

  it('names every metric and period in the admin API reference', () => {
    const quotas = section(
      read('../../docs/admin-api.md'),
      'Quotas and budgets: `/admin/v1/tenants/{tenant}/quotas`',
    );
    for (const name of [...QUOTA_METRIC_NAMES, ...QUOTA_PERIOD_NAMES])
      expect(quotas).toContain(`\`${name}\``);
  });
});

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  description?: string;
}
interface Operation {
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
}

/** The OpenAPI document of the limit and quota routes, as /openapi.json serves it. */
async function openApi(): Promise<Record<string, Record<string, Operation>>> {
  const app = Fastify();
  await registerDocs(app, 'test');
  // Registered, never called: the document is built from the routes' schemas alone.
  const services = {} as Services;
  await app.register(limitRoutes, { prefix: '/admin/v1/tenants/:tenant/limits', ...services });
  await app.register(quotaRoutes, { prefix: '/admin/v1/tenants/:tenant/quotas', ...services });
  await app.ready();
  const { paths } = JSON.parse(JSON.stringify(app.swagger())) as {
    paths: Record<string, Record<string, Operation>>;
  };
  await app.close();
  return paths;
}

const json = (operation: Operation | undefined, status?: string): JsonSchema | undefined =>
  (status === undefined ? operation?.requestBody : operation?.responses[status])?.content?.[
    'application/json'
  ]?.schema;

describe('the admin API', async () => {
  const paths = await openApi();
  const limits = paths['/admin/v1/tenants/{tenant}/limits'];
  const quotas = paths['/admin/v1/tenants/{tenant}/quotas'];

  it.each(LIMIT_KIND_NAMES)('takes and shows %s, in its range', (name) => {
    const { min, max, description } = limitKind(name);
    const taken = json(limits?.post)?.properties?.[name];
    expect(taken?.description).toBe(description);
    expect(taken?.anyOf).toContainEqual(
      expect.objectContaining({ type: 'integer', minimum: min, maximum: max }),
    );
    for (const shown of [json(limits?.post, '201'), json(limits?.get, '200')])
      expect(JSON.stringify(shown)).toContain(`"${name}"`);
  });

  it('takes only the declared quota metrics and periods', () => {
    const body = json(quotas?.post)?.properties;
    expect(body?.metric?.enum).toEqual(QUOTA_METRIC_NAMES);
    expect(body?.period?.enum).toEqual(QUOTA_PERIOD_NAMES);
  });
});

describe('the limit kinds', () => {
  it('each count on counters of their own: windows of a length, or requests at once', () => {
    for (const name of LIMIT_KIND_NAMES) {
      const { counter } = limitKind(name);
      if (counter.type === 'window') expect(counter.windowMs, name).toBeGreaterThan(0);
    }
    const keys = LIMIT_KIND_NAMES.map((name) => limitKind(name).counterKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
