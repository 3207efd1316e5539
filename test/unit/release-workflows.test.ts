import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/compose-file.js';

interface Step {
  run?: string;
  uses?: string;
  if?: string;
  with?: Record<string, string | boolean>;
}
interface Workflow {
  jobs: Record<string, { steps: Step[] }>;
}

const workflow = (name: string) =>
  parse(readFileSync(join(REPO_ROOT, '.github/workflows', name), 'utf8')) as Workflow;
const steps = (file: Workflow) => Object.values(file.jobs).flatMap((job) => job.steps);
const version = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

describe('the release notes', () => {
  const notes = (...args: string[]) =>
    spawnSync(process.execPath, ['scripts/release-notes.mjs', ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });

  it("are CHANGELOG.md's section of package.json's version", () => {
    const text = execFileSync(process.execPath, ['scripts/release-notes.mjs', `v${version}`], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(text).toContain('### Added');
    expect(text).not.toMatch(/^## /m);
    const changelog = readFileSync(join(REPO_ROOT, 'CHANGELOG.md'), 'utf8');
    expect(changelog).toMatch(/^## \[Unreleased\]$/m);
    expect(changelog).toMatch(
      new RegExp(`^## \\[${version.replaceAll('.', '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'),
    );
  });

  it('fail the release for a version the changelog does not have', () => {
    const result = notes('99.0.0');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no section for 99.0.0');
    expect(notes().status).toBe(2);
  });
});

describe('the workflows', () => {
  it('CI audits the dependencies and builds the Dockerfile that exists, unguarded', () => {
    const ci = steps(workflow('ci.yml'));
    expect(ci.some((step) => step.run === 'npm audit --audit-level=high')).toBe(true);
    const builds = ci.filter((step) => step.uses?.startsWith('docker/build-push-action'));
    expect(builds).toHaveLength(1);
    for (const build of builds) {
      expect(build.if).toBeUndefined();
      expect(existsSync(join(REPO_ROOT, String(build.with?.file)))).toBe(true);
    }
  });

  it('the release pushes a multi-arch image, packages the chart and uses the notes', () => {
    const release = steps(workflow('release.yml'));
    const image = release.find((step) => step.uses?.startsWith('docker/build-push-action'));
    expect(String(image?.with?.platforms).split(',')).toEqual(['linux/amd64', 'linux/arm64']);
    expect(image?.with?.push).toBe(true);
    const scripts = release.map((step) => step.run ?? '').join('\n');
    expect(scripts).toContain('node scripts/release-notes.mjs');
    expect(scripts).toContain('helm package deploy/helm/llm-backend');
    expect(scripts).toContain('--notes-file release-notes.md');
    expect(existsSync(join(REPO_ROOT, '.github/workflows/codeql.yml'))).toBe(true);
    const dependabot = parse(readFileSync(join(REPO_ROOT, '.github/dependabot.yml'), 'utf8')) as {
      updates: { 'package-ecosystem': string }[];
    };
    expect(dependabot.updates.map((update) => update['package-ecosystem'])).toEqual(
      expect.arrayContaining(['npm', 'docker', 'github-actions']),
    );
  });
});
