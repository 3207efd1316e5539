import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Copy,
  type Dockerfile,
  DockerfileParser,
  type Instruction,
  type JSONInstruction,
} from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/compose-file.js';

const source = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(source);
const instructions = dockerfile.getInstructions();
const KNOWN = new Set([
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
]);

/** The image a FROM names, with the ARG defaults before the first FROM filled in. */
function baseImage(file: Dockerfile, from: Instruction): string {
  const defaults = new Map(
    file
      .getInitialARGs()
      .map((arg) => [arg.getProperty()?.getName(), arg.getProperty()?.getValue()]),
  );
  const image = from.getArguments()[0]?.getValue() ?? '';
  return image.replace(/\$\{?(\w+)\}?/g, (_whole, name: string) => defaults.get(name) ?? '');
}

/** A COPY's --from stage (the parser's getFromFlag misses it next to other flags). */
function copyFrom(copy: Copy): string | undefined {
  return (
    copy
      .getFlags()
      .find((flag) => flag.getName() === 'from')
      ?.getValue() ?? undefined
  );
}

/** Our rules for the image, beyond what the parser finds; each returns the problems. */
function problems(file: Dockerfile): string[] {
  const found: string[] = [];
  const all = file.getInstructions();
  const stages = file
    .getFROMs()
    .map((from) => from.getBuildStage())
    .filter((name) => name !== null);
  for (const instruction of all) {
    const keyword = instruction.getKeyword();
    if (!KNOWN.has(keyword)) found.push(`unknown instruction ${keyword}`);
    if (keyword === 'ADD') found.push('ADD: use COPY (ADD fetches URLs and unpacks archives)');
    const content = instruction.getArgumentsContent() ?? '';
    if (keyword === 'RUN' && /apt-get install/.test(content)) {
      if (!content.includes('--no-install-recommends'))
        found.push('apt-get install without --no-install-recommends');
      if (!content.includes('rm -rf /var/lib/apt/lists')) found.push('apt lists left in the layer');
    }
    if (keyword === 'RUN' && /\bapt-get (dist-)?upgrade\b|\bsudo\b/.test(content))
      found.push(`RUN: ${content}`);
    if (keyword === 'WORKDIR' && !content.startsWith('/'))
      found.push(`WORKDIR ${content} is relative`);
    const fromStage = keyword === 'COPY' ? copyFrom(instruction as Copy) : null;
    if (fromStage !== null && fromStage !== undefined && !stages.includes(fromStage))
      found.push(`COPY --from=${fromStage}: no such stage`);
    // No secrets in layers: nothing that looks like one is set at build time or copied in.
    if (keyword === 'ENV' || keyword === 'ARG') {
      for (const name of content.split(/\s+/).map((part) => part.split('=')[0] ?? ''))
        if (/KEY|SECRET|PASSWORD|TOKEN/i.test(name))
          found.push(`${keyword} ${name} holds a secret`);
    }
    if (
      (keyword === 'COPY' || keyword === 'ADD') &&
      /(^|\s|\/)\.env(\s|$|\.)|\.pem\b|id_rsa/.test(content)
    )
      found.push(`${keyword} ${content} copies a secret`);
  }
  const first = file.getFROMs()[0]?.getRange().start.line ?? 0;
  for (const instruction of all)
    if (instruction.getRange().start.line < first && instruction.getKeyword() !== 'ARG')
      found.push(`${instruction.getKeyword()} before the first FROM`);
  if (new Set(stages).size !== stages.length) found.push('two stages share a name');
  for (const from of file.getFROMs()) {
    const image = baseImage(file, from);
    // Pinned: an exact version (x.y.z) or a digest, never latest or a moving major.
    if (!/@sha256:[0-9a-f]{64}$/.test(image) && !/:\d+\.\d+\.\d+(-[\w.-]+)?$/.test(image))
      found.push(`FROM ${image} is not pinned`);
  }
  const last = file.getFROMs().at(-1);
  const runtime = all.filter(
    (instruction) =>
      last !== undefined && instruction.getRange().start.line > last.getRange().start.line,
  );
  const users = runtime.filter((instruction) => instruction.getKeyword() === 'USER');
  const user = users.at(-1)?.getArgumentsContent() ?? 'root';
  if (/^(root|0)(:|$)/.test(user)) found.push(`the image runs as ${user}`);
  if (file.getHEALTHCHECKs().length !== 1) found.push('no HEALTHCHECK');
  for (const keyword of ['ENTRYPOINT', 'CMD']) {
    const forms = runtime.filter((instruction) => instruction.getKeyword() === keyword);
    if (forms.length !== 1) found.push(`${keyword}: ${forms.length} in the final stage`);
    // The exec (JSON) form: the signal goes to tini, not to a shell that drops it.
    if (forms.some((instruction) => (instruction as JSONInstruction).getJSONStrings().length === 0))
      found.push(`${keyword} in shell form`);
  }
  return found;
}

/** ENTRYPOINT then CMD of the final stage, as the container runs them. */
function command(file: Dockerfile): string[] {
  const strings = (keyword: string) =>
    file
      .getInstructions()
      .filter((instruction) => instruction.getKeyword() === keyword)
      .flatMap((instruction) =>
        (instruction as JSONInstruction).getJSONStrings().map((arg) => arg.getJSONValue()),
      );
  return [...strings('ENTRYPOINT'), ...strings('CMD')];
}

describe('Dockerfile', () => {
  it('parses with no problem the linter or our rules find', () => {
    expect(instructions.length).toBeGreaterThan(10);
    expect(problems(dockerfile)).toEqual([]);
  });

  it('the rules catch what they are for', () => {
    const bad = DockerfileParser.parse(
      [
        'ENV EARLY=1',
        'FROM node:20 AS build',
        'FROM node:latest AS build',
        'ARG NPM_TOKEN=abc',
        'ENV DB_PASSWORD=hunter2',
        'COPY .env /app/.env',
        'ADD https://example.com/x.tgz /x',
        'RUN apt-get update && apt-get install -y curl',
        'COPY --from=nowhere /a /a',
        'CMD node dist/cli.js serve',
      ].join('\n'),
    );
    const found = problems(bad).join('\n');
    for (const expected of [
      'ENV before the first FROM',
      'two stages share a name',
      'FROM node:20 is not pinned',
      'FROM node:latest is not pinned',
      'ARG NPM_TOKEN holds a secret',
      'ENV DB_PASSWORD holds a secret',
      'COPY .env /app/.env copies a secret',
      'ADD: use COPY',
      'without --no-install-recommends',
      'apt lists left in the layer',
      'COPY --from=nowhere: no such stage',
      'the image runs as root',
      'no HEALTHCHECK',
      'CMD in shell form',
    ])
      expect(found).toContain(expected);
  });

  it('is multi-stage, installs production dependencies only and runs dist/cli.js under tini', () => {
    const stages = dockerfile.getFROMs().map((from) => from.getBuildStage());
    expect(stages).toEqual(['deps', 'build', 'runtime']);
    expect(source).toMatch(/npm ci --omit=dev/);
    const copies = dockerfile
      .getCOPYs()
      .map((copy) =>
        [copyFrom(copy) ?? '', ...copy.getArguments().map((arg) => arg.getValue())].join(' '),
      );
    expect(copies).toContain('deps /app/node_modules node_modules');
    expect(copies).toContain('build /app/dist dist');
    // The build stage's node_modules (dev dependencies) never reach the runtime.
    expect(copies.filter((copy) => copy.startsWith('build ')).join()).not.toContain('node_modules');
    const run = command(dockerfile);
    expect(run.slice(0, 4)).toEqual(['/usr/bin/tini', '--', 'node', 'dist/cli.js']);
    expect(run.slice(4)).toEqual(['serve']);
    const bin = (
      JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        bin: Record<string, string>;
      }
    ).bin;
    expect(Object.values(bin)).toContain(run[3]);
  });

  it('checks /health/live, keeps its data under a volume and labels the image', () => {
    const check = dockerfile.getHEALTHCHECKs()[0]?.getArgumentsContent() ?? '';
    expect(check).toContain('/health/live');
    expect(source).toMatch(/^VOLUME \["\/data"\]$/m);
    expect(source).toMatch(/DATA_DIR=\/data/);
    expect(source).toMatch(/org\.opencontainers\.image\.licenses="MIT"/);
    const user = dockerfile.getInstructions().filter((i) => i.getKeyword() === 'USER');
    expect(user.map((i) => i.getArgumentsContent())).toEqual(['node']);
  });

  it('.dockerignore keeps secrets and local state out of the build context', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.env', '.env.*', 'node_modules', 'data', '.git', 'dist'])
      expect(ignored).toContain(entry);
  });
});
