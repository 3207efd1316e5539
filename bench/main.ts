/**
 * `npm run bench`: our gateway, Portkey's, a bare Node proxy and the bare upstream, measured
 * one after another on the same fake upstream in the same run; see docs/benchmarks.md.
 *
 *   npm run bench                         quick mode, about two minutes
 *   npm run bench -- --full               longer runs, for figures to publish
 *   npm run bench -- --systems llm-backend,bare-proxy,direct
 *   npm run bench -- --cpu-prof           our gateway under node --cpu-prof
 *   npm run bench -- --log-level info     our gateway's LOG_LEVEL (default warn)
 *   npm run bench -- --skip-build         use dist/ as it is
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllNow, stopAll, Worker } from './children.js';
import { type Measured, measure, PLANS, type Workers } from './measure.js';
import {
  compareToBare,
  describeAccounting,
  type Figures,
  figuresOf,
  formatJson,
  markdownTable,
  rawTable,
} from './report.js';
import { cacheSection, redisSection } from './sections.js';
import { checkStores, dropLeftovers, dropRunData } from './stores.js';
import { SYSTEMS, type SystemName, startSystem } from './systems.js';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
const RESULTS = 'bench/results';
const PROFILES = join(RESULTS, 'profiles');

function options() {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean', default: false },
      systems: { type: 'string', default: SYSTEMS.join(',') },
      'cpu-prof': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'warn' },
      'skip-build': { type: 'boolean', default: false },
    },
  });
  const wanted = values.systems.split(',').map((name) => name.trim());
  for (const name of wanted) {
    if (!SYSTEMS.includes(name as SystemName))
      throw new Error(`--systems: unknown system '${name}' (known: ${SYSTEMS.join(', ')})`);
  }
  return {
    plan: PLANS[values.full ? 'full' : 'quick'],
    systems: SYSTEMS.filter((name) => wanted.includes(name)),
    cpuProf: values['cpu-prof'],
    logLevel: values['log-level'],
    build: !values['skip-build'],
  };
}

const log = (line: string) => console.log(line);
let usesDatabases = false;
let cleaning: Promise<void> | null = null;

function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll(5000);
    if (usesDatabases) await dropRunData().catch((error) => console.error(String(error)));
  })();
  return cleaning;
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping every process and dropping the bench databases`);
    void cleanUp().finally(() => process.exit(code));
  });
}
process.on('exit', killAllNow);

function build(): void {
  log('building (npm run build)');
  try {
    execFileSync('npm', ['run', 'build'], { stdio: 'pipe', encoding: 'utf8' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

function commit(): string | null {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

function newProfiles(since: number): string[] {
  try {
    return readdirSync(PROFILES)
      .map((file) => join(PROFILES, file))
      .filter((file) => file.endsWith('.cpuprofile') && statSync(file).mtimeMs >= since);
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  // Anything else busy on the machine skews every figure; the record says how busy it was.
  const loadBefore = loadavg()[0];
  const { plan, systems, cpuProf, logLevel, build: rebuild } = options();
  mkdirSync(RESULTS, { recursive: true });
  if (systems.includes('llm-backend')) {
    await checkStores();
    const dropped = await dropLeftovers();
    if (dropped.length > 0) log(`dropped databases left by earlier runs: ${dropped.join(', ')}`);
    if (rebuild) build();
    usesDatabases = true;
  }
  const upstream = new Worker('upstream', 'bench/upstream.ts');
  const workers: Workers = {
    upstream,
    load: new Worker('load generator', 'bench/load.ts'),
    streams: new Worker('stream client', 'bench/streams.ts'),
  };
  const upstreamPort = await upstream.port();
  log(`${plan.mode} mode; fake upstream on 127.0.0.1:${upstreamPort}`);

  const measured: Partial<Record<SystemName, Measured>> = {};
  const durations: Partial<Record<SystemName, number>> = {};
  for (const name of systems) {
    const began = Date.now();
    log(`\n${name}`);
    const system = await startSystem(name, {
      upstreamPort,
      resultsDir: RESULTS,
      logLevel,
      cpuProfDir: cpuProf ? PROFILES : null,
    });
    try {
      measured[name] = await measure(system, workers, plan, (line) => log(`  ${line}`));
    } finally {
      await system.stop();
    }
    durations[name] = (Date.now() - began) / 1000;
  }

  const figures: Partial<Record<SystemName, Figures>> = {};
  for (const name of systems) {
    const m = measured[name];
    if (m !== undefined) figures[name] = figuresOf(m, measured.direct);
  }
  compareToBare(figures);
  const accounting = measured['llm-backend']?.accounting ?? null;
  const meta = {
    date: new Date().toISOString(),
    mode: plan.mode,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    load_average_1m_before: loadBefore,
    commit: commit(),
    systems,
    llm_backend_log_level: logLevel,
    cpu_prof: cpuProf,
    plan,
    system_seconds: durations,
    wall_seconds: (Date.now() - started) / 1000,
  };
  const json = {
    direct: figures.direct ?? null,
    'bare-proxy': figures['bare-proxy'] ?? null,
    portkey: figures.portkey ?? null,
    'llm-backend': figures['llm-backend'] ?? null,
    meta,
  };
  const table = markdownTable(figures);
  const raw = rawTable(figures);
  const accountingLine = accounting === null ? '' : `\n${describeAccounting(accounting)}\n`;
  const ours = figures['llm-backend'];
  const extra = [redisSection(ours), cacheSection(ours, figures.direct, figures['bare-proxy'])]
    .filter((section) => section.length > 0)
    .map((section) => `\n${section}\n`)
    .join('');
  const markdown = `${table}\n\nMeasured values (× bare: as a multiple of the bare proxy's):\n\n${raw}\n${accountingLine}${extra}\n${plan.mode} mode, ${meta.date}, Node ${meta.node}, ${meta.cpus} × ${meta.cpu}, commit ${meta.commit ?? '?'}; load generator, upstream and gateway share the machine.\n`;
  for (const name of ['latest', plan.mode]) {
    writeFileSync(join(RESULTS, `${name}.json`), formatJson(json));
    writeFileSync(join(RESULTS, `${name}.md`), markdown);
  }
  log(`\n${markdown}`);
  log(`results: ${RESULTS}/latest.json, ${RESULTS}/latest.md (${meta.wall_seconds.toFixed(0)} s)`);
  for (const profile of newProfiles(started)) log(`CPU profile: ${relative(root, profile)}`);
  if (accounting !== null && !accounting.ok) {
    console.error('\nThe accounting check failed (see above): exit status 1.');
    process.exitCode = 1;
  }
}

main()
  .catch((error: unknown) => {
    console.error(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanUp());
