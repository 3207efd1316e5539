import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, type IncomingMessage, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { issueCertificate, makeTestCa } from '../helpers/certificates.js';
import { createBackend } from '../helpers/databases.js';
import { writeConfigFile } from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { runResource } from '../helpers/run-resource.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Generous: each new embedded database runs PGlite's initdb (seconds each), and the suite
// runs files in parallel on two cores.
const TEST_TIMEOUT_MS = 90_000;
/** Safety net only: every wait below ends on an event long before this. */
const WAIT_MS = 45_000;

/** Variables the gateway reads; the child must not inherit them from the test runner. */
const GATEWAY_VARIABLES = [
  'PORT',
  'HOST',
  'DATA_DIR',
  'CONFIG_FILE',
  'LOG_LEVEL',
  'BODY_LIMIT_BYTES',
  'SHUTDOWN_GRACE_MS',
  'UPSTREAM_CONNECT_TIMEOUT_MS',
  'UPSTREAM_FIRST_BYTE_TIMEOUT_MS',
  'UPSTREAM_IDLE_TIMEOUT_MS',
  'MASTER_KEY',
  'DATABASE_URL',
  'REDIS_URL',
  'TENANT_DELETION_GRACE_HOURS',
  'EXPORT_DIR',
  'BOOTSTRAP_ADMIN_KEY',
  'AUTH_FAILURES_PER_MINUTE',
  'USAGE_STREAM',
  'LOG_STREAM',
  'LOG_SINK_URL',
  // Not ours: the yaml package's debug switch, next to LOG_STREAM.
  'LOG_TOKENS',
];

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of GATEWAY_VARIABLES) {
    delete env[name];
    delete env[`${name}_FILE`];
  }
  // Each process gets its own data directory, so embedded databases never collide.
  const dataDir = scratchDir('llm-backend-cli-');
  return { ...env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ...extra };
}

type LogLine = Record<string, unknown>;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Cli {
  child: ChildProcess;
  /** Every stdout line parsed as JSON (pino), in order. */
  logs: LogLine[];
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Exit>;
  /** Resolves with the first log line (past or future) that matches. */
  waitForLog: (match: (line: LogLine) => boolean, what: string) => Promise<LogLine>;
}

const running = new Set<ChildProcess>();
const scratch: string[] = [];

function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

afterEach(async () => {
  const children = [...running];
  running.clear();
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exit = once(child, 'exit');
      child.kill('SIGKILL');
      await exit;
    }),
  );
  // Each embedded data directory holds tens of megabytes: remove them once the children are gone.
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function withTimeout<T>(
  promise: Promise<T>,
  what: string,
  describeState: () => string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}\n${describeState()}`)),
      WAIT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The CLI is run as `npm start` and the container run it, from dist/, built once per test run
 * (incremental, so quick when dist/ is current). Its start takes a fraction of a start from
 * the sources through tsx, and this file starts some forty processes.
 */
// A build from nothing (no dist/ yet) compiles every module and the admin panel.
beforeAll(() => runResource('build'), 600_000);

function startCli(args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, ['dist/cli.js', ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const logs: LogLine[] = [];
  let stdout = '';
  let stderr = '';
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];

  const stdoutDone = new Promise<void>((resolve) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (text) => {
      stdout += `${text}\n`;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return;
      }
      if (parsed === null || typeof parsed !== 'object') return;
      const line = parsed as LogLine;
      logs.push(line);
      for (const waiter of [...waiters]) {
        if (!waiter.match(line)) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    });
    lines.on('close', () => resolve());
  });
  const stderrDone = new Promise<void>((resolve) => {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (data: string) => {
      stderr += data;
    });
    child.stderr?.on('end', () => resolve());
  });
  const exitEvent = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // Exit once the output is fully read too, so assertions see every line.
  const exited = Promise.all([exitEvent, stdoutDone, stderrDone]).then(([exit]) => exit);
  const state = () => `stdout:\n${stdout}\nstderr:\n${stderr}`;

  return {
    child,
    logs,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: withTimeout(exited, 'the process to exit', state),
    waitForLog: (match, what) => {
      const seen = logs.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      const found = new Promise<LogLine>((resolve) => waiters.push({ match, resolve }));
      const failed = exitEvent.then((exit) => {
        throw new Error(`process exited (${JSON.stringify(exit)}) before ${what}\n${state()}`);
      });
      return withTimeout(Promise.race([found, failed]), what, state);
    },
  };
}

interface FirstStartKeys {
  file: string;
  adminKey: string;
  tenantKey: string;
}

/** The keys a first start saved, from the file its log line names. */
async function firstStartKeys(cli: Cli): Promise<FirstStartKeys> {
  const line = await cli.waitForLog(
    (log) => typeof log.file === 'string' && String(log.msg).startsWith('first start:'),
    'the log line naming the keys file',
  );
  const file = String(line.file);
  const text = readFileSync(file, 'utf8');
  const key = (name: string) =>
    new RegExp(`^export ${name}=(llmb_[0-9A-Za-z]{38})$`, 'm').exec(text)?.[1] ?? '';
  return { file, adminKey: key('ADMIN_KEY'), tenantKey: key('LLM_BACKEND_KEY') };
}

/**
 * Serves on a fresh embedded data directory and resolves with the base URL (from Fastify's
 * "Server listening at" line) and the keys the first start saved.
 */
async function serve(
  env: Record<string, string> = {},
): Promise<{ cli: Cli; url: string; key: string; keys: FirstStartKeys }> {
  const cli = startCli(['serve'], env);
  const url = await listening(cli);
  const keys = await firstStartKeys(cli);
  return { cli, url, key: keys.tenantKey, keys };
}

/** The base URL, from Fastify's "Server listening at" line. */
async function listening(cli: Cli): Promise<string> {
  const line = await cli.waitForLog(
    (log) => typeof log.msg === 'string' && log.msg.startsWith('Server listening at '),
    'the listen log line',
  );
  const match = /^Server listening at (http:\/\/[^\s]+)$/.exec(String(line.msg));
  if (match?.[1] === undefined) throw new Error(`unexpected listen line: ${String(line.msg)}`);
  return match[1];
}

interface Seed {
  dataDir: string;
  /** The default tenant's key. */
  key: string;
  keys: FirstStartKeys;
  /** The first start itself, stopped with SIGTERM, and how it exited. */
  first: Cli;
  exit: Exit;
}

let seed: Promise<Seed> | null = null;

/** One first start on a fresh embedded data directory, made once and kept for the file. */
function seedOnce(): Promise<Seed> {
  seed ??= (async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'llm-backend-cli-seed-'));
    const first = await serve({ DATA_DIR: dataDir });
    first.cli.child.kill('SIGTERM');
    const exit = await first.cli.exited;
    return { dataDir, key: first.key, keys: first.keys, first: first.cli, exit };
  })();
  return seed;
}

/**
 * Serves on a copy of a data directory one first start made, with that start's key: the
 * tests about serving rather than about first starts skip creating the databases again.
 */
async function serveSeeded(
  env: Record<string, string> = {},
): Promise<{ cli: Cli; url: string; key: string; dataDir: string }> {
  const { dataDir, key } = await seedOnce();
  const copy = scratchDir('llm-backend-cli-copy-');
  cpSync(dataDir, copy, { recursive: true });
  const cli = startCli(['serve'], { ...env, DATA_DIR: copy });
  return { cli, url: await listening(cli), key, dataDir: copy };
}

afterAll(async () => {
  if (seed !== null) rmSync((await seed).dataDir, { recursive: true, force: true });
});

/** A GET on a fresh connection (no keep-alive pool), so it shows whether the port accepts. */
function getOnNewConnection(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (data: string) => {
        body += data;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface StreamingResponse {
  status: number;
  firstChunk: Promise<void>;
  /** The whole body, once the response ends. */
  body: Promise<string>;
}

/** POSTs JSON through `agent` and resolves once the response headers arrived. */
function postStream(
  url: string,
  key: string,
  agent: Agent,
  payload: unknown,
): Promise<StreamingResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      },
      (res: IncomingMessage) => {
        let body = '';
        let markFirst: () => void = () => {};
        const firstChunk = new Promise<void>((resolveFirst) => {
          markFirst = resolveFirst;
        });
        const whole = new Promise<string>((resolveBody, rejectBody) => {
          res.setEncoding('utf8');
          res.on('data', (data: string) => {
            body += data;
            markFirst();
          });
          res.on('end', () => resolveBody(body));
          res.on('error', rejectBody);
        });
        resolve({ status: res.statusCode ?? 0, firstChunk, body: whole });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(payload));
  });
}

function clientFor(url: string, key: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
}

function slowMockConfig(tokensPerSecond: number): string {
  return writeConfigFile({
    providers: {
      slow: { type: 'mock', latency_ms: 0, tokens_per_second: tokensPerSecond },
    },
    models: [{ name: 'mock-chat', provider: 'slow', capabilities: { chat: true } }],
  });
}

const mockReply = (prompt: string) => `This is a mock reply from mock-chat. You said: "${prompt}"`;

const hasStackTrace = (text: string) => /^\s+at .+\(?.+:\d+:\d+\)?$/m.test(text);

/** Starts a streamed chat completion and reads its first chunk. */
async function openStream(url: string, key: string, prompt: string) {
  const stream = await clientFor(url, key).chat.completions.create({
    model: 'mock-chat',
    messages: [{ role: 'user', content: prompt }],
    stream: true,
  });
  const chunks = stream[Symbol.asyncIterator]();
  const first = await chunks.next();
  expect(first.done).toBe(false);
  return { chunks, first: first.value?.choices[0]?.delta.content ?? '' };
}

describe('cli', () => {
  it(
    'help prints the usage and exits 0',
    async () => {
      const cli = startCli(['help']);
      const exit = await cli.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(cli.stdout()).toContain('Usage: llm-backend <command>');
      expect(cli.stdout()).toMatch(/^\s+serve\s/m);
      expect(cli.stderr()).toBe('');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'no command means help',
    async () => {
      const cli = startCli([]);
      expect(await cli.exited).toEqual({ code: 0, signal: null });
      expect(cli.stdout()).toContain('Usage: llm-backend <command>');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'an unknown command exits 2 with one line and a pointer to the help',
    async () => {
      const cli = startCli(['frobnicate']);
      expect(await cli.exited).toEqual({ code: 2, signal: null });
      expect(cli.stderr()).toBe(
        "llm-backend: unknown command 'frobnicate'\nSee 'llm-backend --help'.\n",
      );
      expect(cli.stdout()).toBe('');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--version and -v print the version; an unknown flag exits 2, no stack trace',
    async () => {
      const [version, v, help, bogus] = [
        startCli(['--version']),
        startCli(['-v']),
        startCli(['serve', '--help']),
        startCli(['--bogus']),
      ];
      expect(await version.exited).toEqual({ code: 0, signal: null });
      expect(version.stdout().trim()).toMatch(/^\d+\.\d+\.\d+/);
      expect(await v.exited).toEqual({ code: 0, signal: null });
      expect(v.stdout()).toBe(version.stdout());
      expect(await help.exited).toEqual({ code: 0, signal: null });
      expect(help.stdout()).toMatch(/^Usage: llm-backend serve \[options\]$/m);
      expect(await bogus.exited).toEqual({ code: 2, signal: null });
      expect(bogus.stderr()).toContain("llm-backend: unknown option '--bogus'");
      expect(bogus.stderr()).not.toMatch(/\bat .+\.(ts|js):\d+/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'migrate --help prints its usage and migrates nothing',
    async () => {
      const dataDir = scratchDir('llm-backend-cli-help-');
      const [long, short] = [
        startCli(['migrate', '--help'], { DATA_DIR: dataDir }),
        startCli(['migrate', '-h'], { DATA_DIR: dataDir }),
      ];
      for (const cli of [long, short]) {
        expect(await cli.exited).toEqual({ code: 0, signal: null });
        expect(cli.stdout()).toMatch(/^Usage: llm-backend migrate \[options\]$/m);
        expect(cli.stdout()).not.toContain('up to date');
        expect(cli.stderr()).toBe('');
      }
      // Migrating would have created the embedded databases here.
      expect(readdirSync(dataDir)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'each subcommand has its own help, and its errors name it and point to that help',
    async () => {
      const dataDir = scratchDir('llm-backend-cli-usage-');
      const env = { DATA_DIR: dataDir };
      const [help, unknownOption, missingArgument, missingOption] = [
        startCli(['tenant', 'create', '-h'], env),
        startCli(['tenant', 'create', 'acme', '--bogus'], env),
        startCli(['user', 'get', 'acme'], env),
        startCli(['key', 'create', 'acme'], env),
      ];
      expect(await help.exited).toEqual({ code: 0, signal: null });
      expect(help.stdout()).toMatch(/^Usage: llm-backend tenant create \[options\] <slug>$/m);
      expect(help.stdout()).toMatch(/^ {2}--name <name> /m);
      expect(help.stdout()).not.toContain('Usage: llm-backend <command>');

      const errors = [
        [unknownOption, 'tenant create', "unknown option '--bogus'"],
        [missingArgument, 'user get', "missing required argument 'user_id'"],
        [missingOption, 'key create', "required option '--name <name>' not specified"],
      ] as const;
      for (const [cli, command, message] of errors) {
        expect(await cli.exited).toEqual({ code: 2, signal: null });
        expect(cli.stderr()).toBe(
          `llm-backend ${command}: ${message}\nSee 'llm-backend ${command} --help'.\n`,
        );
        expect(cli.stdout()).toBe('');
      }
      // Refused before anything was opened.
      expect(readdirSync(dataDir)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'refuses to open embedded databases that a running server holds',
    async () => {
      const { dataDir } = await serveSeeded();
      const cli = startCli(['tenant', 'list'], { DATA_DIR: dataDir });
      expect(await cli.exited).toEqual({ code: 1, signal: null });
      expect(cli.stderr()).toMatch(/in use by process \d+/);
      expect(hasStackTrace(cli.stderr())).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'tenant create and list against a PostgreSQL control plane',
    async () => {
      const backend = await createBackend('postgres');
      try {
        const env = {
          DATABASE_URL: backend.url ?? '',
          MASTER_KEY: 'cli-test-master-key-0123456789abcdef',
        };
        const created = startCli(['tenant', 'create', 'acme', '--name', 'Acme Inc'], env);
        expect(await created.exited).toEqual({ code: 0, signal: null });
        expect(created.stdout()).toMatch(/^tnt_[0-9a-z]+ {2}acme {2}active {2}Acme Inc$/m);
        const again = startCli(['tenant', 'create', 'acme'], env);
        expect(await again.exited).toEqual({ code: 1, signal: null });
        expect(again.stderr()).toContain('A tenant with this slug exists already.');
        const listed = startCli(['tenant', 'list', '--json'], env);
        expect(await listed.exited).toEqual({ code: 0, signal: null });
        expect(JSON.parse(listed.stdout())).toEqual([expect.objectContaining({ slug: 'acme' })]);
      } finally {
        await backend.destroy();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'serve with an invalid env exits 1 and lists every problem without a stack trace',
    async () => {
      const cli = startCli(['serve'], { PORT: 'abc', LOG_LEVEL: 'loud' });
      expect(await cli.exited).toEqual({ code: 1, signal: null });
      const stderr = cli.stderr();
      expect(stderr).toContain('Invalid configuration');
      expect(stderr).toMatch(/PORT.*abc/);
      expect(stderr).toMatch(/LOG_LEVEL.*loud/);
      expect(hasStackTrace(stderr)).toBe(false);
      expect(cli.logs.some((log) => String(log.msg).startsWith('Server listening'))).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a missing or unreachable database is one line on stderr saying which and what to do',
    async () => {
      const missing = `llmb_missing_${randomBytes(4).toString('hex')}`;
      const url = new URL(TEST_DATABASE_URL);
      url.pathname = `/${missing}`;
      const commands = [['serve'], ['migrate'], ['tenant', 'list'], ['worker']];
      const runs = commands.map(async (args) => {
        const cli = startCli(args, { DATABASE_URL: url.toString() });
        return { args, exit: await cli.exited, stderr: cli.stderr(), stdout: cli.stdout() };
      });
      for (const { args, exit, stderr, stdout } of await Promise.all(runs)) {
        expect(exit, args.join(' ')).toEqual({ code: 1, signal: null });
        expect(stderr.trimEnd().split('\n'), args.join(' ')).toEqual([
          expect.stringContaining(`database "${missing}" does not exist`),
        ]);
        expect(stderr).toContain(`${url.hostname}:${url.port || '5432'}`);
        expect(stderr).toContain(`createdb -h ${url.hostname}`);
        expect(stdout).toBe('');
      }

      // Nothing listens on port 1: the connection is refused at once.
      const unreachable = startCli(['migrate'], {
        DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/llm_backend',
      });
      expect(await unreachable.exited).toEqual({ code: 1, signal: null });
      const lines = unreachable.stderr().trimEnd().split('\n');
      expect(lines).toEqual([expect.stringContaining('cannot reach PostgreSQL at 127.0.0.1:1')]);
      expect(lines[0]).toContain('"llm_backend"');
      expect(lines[0]).not.toContain('hunter2');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'serve with a broken config file exits 1 and names the file problem',
    async () => {
      const config = writeConfigFile({
        providers: { mock: { type: 'mock' } },
        models: [{ name: 'm', provider: 'ghost' }],
      });
      const cli = startCli(['serve'], { CONFIG_FILE: config });
      expect(await cli.exited).toEqual({ code: 1, signal: null });
      expect(cli.stderr()).toContain('/models/0/provider');
      expect(hasStackTrace(cli.stderr())).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the built server writes JSON lines only to stdout, with every option on',
    async () => {
      // LOG_STREAM and LOG_TOKENS are also the yaml package's switches for dumping its parse
      // tree to stdout; the streams are this test's own, removed from Redis afterwards.
      const prefix = `llmb-test-${randomBytes(4).toString('hex')}`;
      const { cli, url, key } = await serveSeeded({
        REDIS_URL: TEST_REDIS_URL,
        LOG_STREAM: `${prefix}:logs`,
        LOG_TOKENS: '1',
        USAGE_STREAM: `${prefix}:usage`,
        LOG_LEVEL: 'trace',
      });
      try {
        await clientFor(url, key).chat.completions.create({
          model: 'mock-chat',
          messages: [{ role: 'user', content: 'hello' }],
        });
        cli.child.kill('SIGTERM');
        expect(await cli.exited).toEqual({ code: 0, signal: null });
        const lines = cli
          .stdout()
          .split('\n')
          .filter((line) => line !== '');
        expect(lines.length).toBeGreaterThan(0);
        const notJson = lines.filter((line) => {
          try {
            return typeof JSON.parse(line) !== 'object';
          } catch {
            return true;
          }
        });
        expect(notJson.slice(0, 5)).toEqual([]);
      } finally {
        const redis = new Redis(TEST_REDIS_URL);
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
        redis.disconnect();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'serve answers health and a chat completion with the default config',
    async () => {
      const { cli, url, key } = await serveSeeded();
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      const live = await fetch(`${url}/health/live`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok' });

      const prompt = 'hello from the cli test';
      const completion = await clientFor(url, key).chat.completions.create({
        model: 'mock-chat',
        messages: [{ role: 'user', content: prompt }],
      });
      expect(completion.object).toBe('chat.completion');
      expect(completion.model).toBe('mock-chat');
      expect(completion.choices[0]?.message.content).toBe(mockReply(prompt));
      expect(completion.choices[0]?.finish_reason).toBe('stop');

      cli.child.kill('SIGTERM');
      expect(await cli.exited).toEqual({ code: 0, signal: null });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the first start saves its keys to an owner-only file, never to stdout; the admin key manages tenants',
    async () => {
      // The first start every serving test's data comes from: a second one would take as long.
      const { dataDir, keys, first, exit } = await seedOnce();
      const { adminKey, tenantKey: key } = keys;
      expect(keys.file).toBe(join(dataDir, 'first-start-keys.txt'));
      expect(statSync(keys.file).mode & 0o777).toBe(0o600);
      expect(adminKey).toMatch(/^llmb_/);
      expect(key).toMatch(/^llmb_/);
      expect(adminKey).not.toBe(key);
      expect(exit).toEqual({ code: 0, signal: null });
      // Stdout is JSON log lines only, and no key is in it (nor, with no terminal, in stderr).
      const lines = first.stdout().trimEnd().split('\n');
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      for (const secret of [adminKey, key]) {
        expect(first.stdout()).not.toContain(secret);
        expect(first.stderr()).not.toContain(secret);
      }

      // A second start on the same data makes no key and no new file; the first keys work.
      const { cli: again, url, dataDir: data } = await serveSeeded();
      const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
      const created = await fetch(`${url}/admin/v1/tenants`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ slug: 'acme', name: 'Acme' }),
      });
      expect(created.status).toBe(201);
      // The tenant key calls models; the platform key may not (it has no tenant to bill).
      const chat = { model: 'mock-chat', messages: [{ role: 'user' as const, content: 'hi' }] };
      await expect(clientFor(url, key).chat.completions.create(chat)).resolves.toBeDefined();
      const refused = await apiError(clientFor(url, adminKey).chat.completions.create(chat));
      expect(refused.status).toBe(403);
      const listed = await fetch(`${url}/admin/v1/tenants`, { headers: admin });
      expect(
        ((await listed.json()) as { data: { slug: string }[] }).data.map((t) => t.slug),
      ).toEqual(expect.arrayContaining(['default', 'acme']));
      again.child.kill('SIGTERM');
      expect(await again.exited).toEqual({ code: 0, signal: null });
      expect(again.stdout()).not.toMatch(/llmb_/);
      expect(again.logs.some((log) => String(log.msg).startsWith('first start:'))).toBe(false);
      expect(readdirSync(data).filter((name) => name.startsWith('first-start-keys'))).toEqual([
        'first-start-keys.txt',
      ]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'BOOTSTRAP_ADMIN_KEY from admin-key generate becomes the platform admin key, printed nowhere',
    async () => {
      const generated = startCli(['admin-key', 'generate']);
      expect(await generated.exited).toEqual({ code: 0, signal: null });
      const adminKey = generated.stdout().trim();
      expect(adminKey).toMatch(/^llmb_[0-9A-Za-z]{38}$/);
      const backend = await createBackend('postgres');
      try {
        const env = {
          DATABASE_URL: backend.url ?? '',
          MASTER_KEY: 'cli-test-master-key-0123456789abcdef',
          BOOTSTRAP_ADMIN_KEY: adminKey,
        };
        const cli = startCli(['serve'], env);
        const url = await listening(cli);
        const listed = await fetch(`${url}/admin/v1/tenants`, {
          headers: { authorization: `Bearer ${adminKey}` },
        });
        expect(listed.status).toBe(200);
        expect(cli.stdout()).not.toContain(adminKey);
        expect(JSON.stringify(cli.logs)).not.toContain(adminKey);
        cli.child.kill('SIGTERM');
        expect(await cli.exited).toEqual({ code: 0, signal: null });

        const keys = startCli(['admin-key', 'list'], env);
        expect(await keys.exited).toEqual({ code: 0, signal: null });
        expect(keys.stdout()).toMatch(
          /^key_\S+ {2}llmb_\S+\.\.\. {2}platform-admin {2}active {2}bootstrap$/m,
        );
        const malformed = startCli(['serve'], { ...env, BOOTSTRAP_ADMIN_KEY: 'not-a-key' });
        expect(await malformed.exited).toEqual({ code: 1, signal: null });
        expect(malformed.stderr()).toContain('BOOTSTRAP_ADMIN_KEY is not a well-formed key');
        expect(malformed.stderr()).not.toContain('not-a-key');
      } finally {
        await backend.destroy();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGTERM drains: the open stream completes, new connections are turned away, exit 0',
    async () => {
      // ~12 tokens at 20 per second: the reply takes ~0.6 s, well inside the grace period.
      const { cli, url, key } = await serveSeeded({
        CONFIG_FILE: slowMockConfig(20),
        SHUTDOWN_GRACE_MS: '20000',
      });
      const ready = await getOnNewConnection(`${url}/health/ready`);
      expect(ready.status).toBe(200);

      const prompt = 'please drain this stream';
      const { chunks, first: firstContent } = await openStream(url, key, prompt);
      let content = firstContent;

      expect(cli.child.kill('SIGTERM')).toBe(true);
      await cli.waitForLog((log) => log.msg === 'shutting down', 'the shutdown log line');

      // A chunk produced after the signal was handled.
      const afterSignal = await chunks.next();
      expect(afterSignal.done).toBe(false);
      content += afterSignal.value?.choices[0]?.delta.content ?? '';

      // A new connection is refused (the port is closed) or answered 503 while draining.
      const probe = await getOnNewConnection(`${url}/health/live`).then(
        (response) => ({ kind: 'response' as const, status: response.status }),
        (error: unknown) => ({ kind: 'error' as const, error }),
      );
      if (probe.kind === 'response') expect(probe.status).toBe(503);
      else expect((probe.error as NodeJS.ErrnoException).code).toMatch(/ECONNREFUSED|ECONNRESET/);

      let finishReason: string | null | undefined = null;
      for (;;) {
        const next = await chunks.next();
        if (next.done) break;
        content += next.value.choices[0]?.delta.content ?? '';
        finishReason = next.value.choices[0]?.finish_reason ?? finishReason;
      }
      expect(content).toBe(mockReply(prompt));
      expect(finishReason).toBe('stop');

      expect(await cli.exited).toEqual({ code: 0, signal: null });
      // It drained on its own: the grace deadline never had to cut a connection.
      expect(cli.logs.some((log) => String(log.msg).includes('grace period over'))).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  // A keep-alive connection whose stream ends during the drain must be closed then, not held
  // open (holding the shutdown) until the client drops it or the grace period ends. The SDK
  // test above cannot show this: undici drops its idle sockets after ~4 s on its own.
  it(
    'SIGTERM exits once the last stream ends, even if the client keeps its connection alive',
    async () => {
      const { cli, url, key } = await serveSeeded({
        CONFIG_FILE: slowMockConfig(20),
        SHUTDOWN_GRACE_MS: '5000',
      });
      const agent = new Agent({ keepAlive: true });
      try {
        const response = await postStream(`${url}/v1/chat/completions`, key, agent, {
          model: 'mock-chat',
          messages: [{ role: 'user', content: 'keep this connection' }],
          stream: true,
        });
        expect(response.status).toBe(200);
        await response.firstChunk;
        cli.child.kill('SIGTERM');
        expect(await response.body).toContain('data: [DONE]');
        expect(await cli.exited).toEqual({ code: 0, signal: null });
        expect(cli.logs.some((log) => String(log.msg).includes('grace period over'))).toBe(false);
      } finally {
        agent.destroy();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGTERM past the grace period cuts the open stream and exits 0',
    async () => {
      // ~12 tokens at 2 per second: the full reply would take ~6 s, the grace is 200 ms.
      const { cli, url, key } = await serveSeeded({
        CONFIG_FILE: slowMockConfig(2),
        SHUTDOWN_GRACE_MS: '200',
      });
      const prompt = 'this reply will be cut';
      const { chunks, first: firstContent } = await openStream(url, key, prompt);
      let content = firstContent;

      expect(cli.child.kill('SIGTERM')).toBe(true);
      const exit = await cli.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(cli.logs.some((log) => String(log.msg).includes('grace period over'))).toBe(true);

      // The process is gone: the client sees an error or an early end, never the whole reply.
      let failure: unknown = null;
      try {
        for (;;) {
          const next = await chunks.next();
          if (next.done) break;
          content += next.value.choices[0]?.delta.content ?? '';
        }
      } catch (error) {
        failure = error;
      }
      expect(content).not.toBe(mockReply(prompt));
      expect(mockReply(prompt).startsWith(content)).toBe(true);
      if (failure === null) expect(content.length).toBeLessThan(mockReply(prompt).length);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'serve with certificate files that cannot be used exits 1, naming the setting',
    async () => {
      const ca = makeTestCa();
      const cert = issueCertificate(ca, 'server');
      const other = issueCertificate(ca, 'other');
      const missing = join(ca.dir, 'missing.pem');
      const absent = startCli(['serve'], { TLS_CERT_FILE: missing, TLS_KEY_FILE: cert.keyFile });
      expect(await absent.exited).toEqual({ code: 1, signal: null });
      expect(absent.stderr()).toContain(`TLS_CERT_FILE: cannot read ${missing} (ENOENT)`);
      const mismatched = startCli(['serve'], {
        TLS_CERT_FILE: cert.certFile,
        TLS_KEY_FILE: other.keyFile,
      });
      expect(await mismatched.exited).toEqual({ code: 1, signal: null });
      expect(mismatched.stderr()).toContain('TLS_CERT_FILE and TLS_KEY_FILE');
      expect(mismatched.stderr()).toContain('not a usable certificate and private key');
      // The key's content never reaches the output.
      expect(mismatched.stdout() + mismatched.stderr()).not.toContain('PRIVATE KEY');
    },
    TEST_TIMEOUT_MS,
  );
});
