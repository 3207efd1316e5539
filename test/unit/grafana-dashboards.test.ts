import type { Dashboard, Panel, VariableModel } from '@grafana/schema';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS, type DashboardJson } from '../helpers/dashboards.js';

// @grafana/schema ships TypeScript types only (no JSON schema, no CUE), so the dashboards are
// checked against them by `tsc` (test/helpers/dashboards.ts assigns each file to `Dashboard`).
// A JSON import is not checked for keys the type does not know, hence the key lists here: the
// compiler holds each list to the type's own keys, the tests hold the files to the lists.
const DASHBOARD_KEYS = [
  'annotations',
  'description',
  'editable',
  'fiscalYearStartMonth',
  'graphTooltip',
  'links',
  'liveNow',
  'panels',
  'refresh',
  'schemaVersion',
  'tags',
  'templating',
  'time',
  'timepicker',
  'timezone',
  'title',
  'uid',
  'version',
] as const satisfies readonly (keyof Dashboard)[];
const PANEL_KEYS = [
  'collapsed',
  'datasource',
  'description',
  'fieldConfig',
  'gridPos',
  'id',
  'options',
  'panels',
  'targets',
  'title',
  'transformations',
  'type',
] as const satisfies readonly (keyof Panel | 'collapsed' | 'panels')[];
const VARIABLE_KEYS = [
  'allValue',
  'current',
  'datasource',
  'hide',
  'includeAll',
  'label',
  'multi',
  'name',
  'options',
  'query',
  'refresh',
  'regex',
  'sort',
  'type',
] as const satisfies readonly (keyof VariableModel)[];

/** Every query goes to the data source the dashboard's `datasource` variable names. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** Variables Grafana defines itself. */
const BUILT_IN = new Set(['__rate_interval', '__range', '__interval', 'datasource']);

const entries = Object.entries(DASHBOARDS) as [string, DashboardJson][];
const panelsOf = (dashboard: DashboardJson) =>
  (dashboard.panels ?? []).filter((p) => p.type !== 'row');
const variablesOf = (dashboard: DashboardJson) => dashboard.templating?.list ?? [];

describe.each(entries)('the %s dashboard', (_name, dashboard) => {
  it('uses only keys Grafana knows, in the dashboard, its panels and its variables', () => {
    expect(
      Object.keys(dashboard).filter((key) => !(DASHBOARD_KEYS as readonly string[]).includes(key)),
    ).toEqual([]);
    for (const panel of dashboard.panels ?? [])
      expect(
        Object.keys(panel).filter((key) => !(PANEL_KEYS as readonly string[]).includes(key)),
      ).toEqual([]);
    for (const variable of variablesOf(dashboard))
      expect(
        Object.keys(variable).filter((key) => !(VARIABLE_KEYS as readonly string[]).includes(key)),
      ).toEqual([]);
  });

  it('has a data source variable defaulting to the provisioned Prometheus, which the others query', () => {
    const datasource = variablesOf(dashboard).find((variable) => variable.name === 'datasource');
    expect(datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(datasource?.current?.value).toBe('prometheus');
    for (const variable of variablesOf(dashboard).filter((v) => v.type === 'query'))
      expect(variable.datasource, variable.name).toEqual(DATASOURCE);
  });

  it('gives every panel the data source, and every target an expression and a unique refId', () => {
    for (const panel of panelsOf(dashboard)) {
      expect(panel.datasource, panel.title).toEqual(DATASOURCE);
      const targets = 'targets' in panel ? (panel.targets ?? []) : [];
      expect(targets.length, panel.title).toBeGreaterThan(0);
      for (const target of targets) {
        expect(target.datasource, panel.title).toEqual(panel.datasource);
        expect(typeof target.expr === 'string' && target.expr.trim() !== '', panel.title).toBe(
          true,
        );
      }
      const refIds = targets.map((target) => target.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
    }
  });

  it('has unique panel ids and titles, and panels on the 24-column grid that do not overlap', () => {
    const panels = dashboard.panels ?? [];
    const ids = panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const titles = panelsOf(dashboard).map((panel) => panel.title);
    expect(new Set(titles).size).toBe(titles.length);
    const taken = new Set<string>();
    for (const panel of panels) {
      const { x = -1, y = -1, w = 0, h = 0 } = panel.gridPos ?? {};
      expect(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24, panel.title).toBe(true);
      for (let column = x; column < x + w; column++)
        for (let row = y; row < y + h; row++) {
          const cell = `${column},${row}`;
          expect(taken.has(cell), `${panel.title} overlaps at ${cell}`).toBe(false);
          taken.add(cell);
        }
    }
  });

  it('defines every variable its queries use, and the tenant and model ones where they filter', () => {
    const defined = new Set(variablesOf(dashboard).map((variable) => variable.name));
    const exprs = panelsOf(dashboard).flatMap((panel) =>
      'targets' in panel ? (panel.targets ?? []).map((target) => String(target.expr)) : [],
    );
    for (const expr of exprs)
      for (const [, name] of expr.matchAll(/\$\{?(\w+)/g))
        expect(defined.has(name ?? '') || BUILT_IN.has(name ?? ''), `$${name} in ${expr}`).toBe(
          true,
        );
    for (const name of ['tenant', 'model', 'instance']) {
      const used = exprs.some((expr) => expr.includes(`$${name}`));
      const variable = variablesOf(dashboard).find((v) => v.name === name);
      expect(variable !== undefined, name).toBe(used);
      if (variable === undefined) continue;
      // Filled from the metrics themselves; "All" is a regex every label value matches.
      expect(variable).toMatchObject({
        type: 'query',
        includeAll: true,
        multi: true,
        allValue: '.*',
      });
      const query = variable.query as { query?: unknown } | undefined;
      expect(query?.query).toMatch(new RegExp(`^label_values\\(llm_backend_\\w+, ${name}\\)$`));
    }
  });
});

describe('the three dashboards', () => {
  it('have distinct uids and share a tag, so each links to the others', () => {
    const uids = entries.map(([, dashboard]) => dashboard.uid);
    expect(new Set(uids).size).toBe(3);
    for (const [, dashboard] of entries) expect(dashboard.tags).toContain('llm-backend');
  });

  it('filter by tenant and model where those labels exist (operational and business)', () => {
    for (const name of ['operational', 'business'] as const) {
      const names = variablesOf(DASHBOARDS[name]).map((variable) => variable.name);
      expect(names).toEqual(expect.arrayContaining(['tenant', 'model']));
    }
  });
});
