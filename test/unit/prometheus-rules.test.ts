import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { onPath } from '../helpers/commands.js';
import { alertRules } from '../helpers/dashboards.js';

const run = promisify(execFile);
const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
const RULES = join(DEPLOY, 'prometheus/rules/llm-backend.rules.yml');
const RULE_TESTS = join(DEPLOY, 'prometheus/rules/llm-backend.rules.test.yml');

const promtool = onPath('promtool');
const amtool = onPath('amtool');

/** Runs a tool; resolves with its output whatever its exit code, so failures show it. */
async function tool(path: string, args: string[]) {
  try {
    const { stdout, stderr } = await run(path, args);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe.skipIf(promtool === null)('Prometheus files (promtool)', () => {
  it('the alert rules are valid', async () => {
    const result = await tool(promtool ?? '', ['check', 'rules', RULES]);
    expect(result.output).toContain(`SUCCESS: ${alertRules().length} rules found`);
    expect(result.code).toBe(0);
  });

  it('the unit tests of the alert rules pass', async () => {
    const result = await tool(promtool ?? '', ['test', 'rules', RULE_TESTS]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  }, 60_000);

  it('every alert rule has a unit test that expects it to fire', () => {
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const firing = new Set(
      tests.tests.flatMap((test) =>
        (test.alert_rule_test ?? []).filter((t) => t.exp_alerts.length > 0).map((t) => t.alertname),
      ),
    );
    expect(alertRules().filter((rule) => !firing.has(rule.alert))).toEqual([]);
  });

  it('the Prometheus config is valid and loads the rules', async () => {
    const result = await tool(promtool ?? '', [
      'check',
      'config',
      join(DEPLOY, 'prometheus/prometheus.yml'),
    ]);
    expect(result.output).toContain('SUCCESS: 1 rule files found');
    expect(result.code).toBe(0);
  });
});

describe.skipIf(amtool === null)('Alertmanager file (amtool)', () => {
  it('the config is valid and routes to a webhook receiver', async () => {
    const result = await tool(amtool ?? '', [
      'check-config',
      join(DEPLOY, 'alertmanager/alertmanager.yml'),
    ]);
    expect(result.output).toContain('SUCCESS');
    expect(result.output).toContain('1 receivers');
    expect(result.code).toBe(0);
  });
});
