import { readFileSync } from 'node:fs';
import type { Dashboard } from '@grafana/schema';
import { parse } from 'yaml';
import business from '../../deploy/grafana/dashboards/business.json' with { type: 'json' };
import operational from '../../deploy/grafana/dashboards/operational.json' with { type: 'json' };
import system from '../../deploy/grafana/dashboards/system.json' with { type: 'json' };

/**
 * A dashboard as JSON can hold it: Grafana's `Dashboard` type with its string unions and enums
 * widened to `string` and `number`, since TypeScript types a JSON file's strings as `string`.
 * Everything else (required fields, nesting, the type of each field) stays as Grafana says.
 */
export type Loosen<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T extends readonly (infer U)[]
        ? Loosen<U>[]
        : T extends object
          ? { [K in keyof T]: Loosen<T[K]> }
          : T;
export type DashboardJson = Loosen<Dashboard>;

// The type check of the dashboard files: `tsc` fails here when one does not fit the schema.
export const DASHBOARDS: Record<'operational' | 'business' | 'system', DashboardJson> = {
  operational,
  business,
  system,
};

export const RULES_FILE = new URL(
  '../../deploy/prometheus/rules/llm-backend.rules.yml',
  import.meta.url,
);

/** One query of a panel. */
export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
  instant: boolean;
}

/** Every PromQL query of every panel (rows left out), in the dashboards' order. */
export function panelQueries(): PanelQuery[] {
  const queries: PanelQuery[] = [];
  for (const [name, dashboard] of Object.entries(DASHBOARDS))
    for (const panel of dashboard.panels ?? []) {
      if (panel.type === 'row' || !('targets' in panel)) continue;
      for (const target of panel.targets ?? [])
        queries.push({
          dashboard: name,
          panel: panel.title ?? '',
          refId: String(target.refId),
          expr: String(target.expr),
          instant: target.instant === true,
        });
    }
  return queries;
}

/** The Grafana variables the dashboards use, and what a query sees with "All" selected. */
export const ALL_VALUES = { tenant: '.*', model: '.*', instance: '.*' } as const;

/**
 * An expression as Grafana sends it to Prometheus: template variables at "All", the rate
 * interval and the time range as given.
 */
export function substitute(expr: string, intervals: { rate: string; range: string }): string {
  return expr
    .replaceAll('$__rate_interval', intervals.rate)
    .replaceAll('$__range', intervals.range)
    .replace(/\$\{?(tenant|model|instance)\}?/g, (_match, name: keyof typeof ALL_VALUES) => {
      return ALL_VALUES[name];
    });
}

export interface AlertRule {
  group: string;
  alert: string;
  expr: string;
}

/** The alert rules of deploy/prometheus/rules/llm-backend.rules.yml. */
export function alertRules(): AlertRule[] {
  const file = parse(readFileSync(RULES_FILE, 'utf8')) as {
    groups: { name: string; rules: { alert: string; expr: string }[] }[];
  };
  return file.groups.flatMap((group) =>
    group.rules.map((rule) => ({ group: group.name, alert: rule.alert, expr: rule.expr })),
  );
}
