import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown> | null;
  /** Resolves when the gateway closed the connection before the response ended. */
  aborted: Promise<void>;
  wasAborted: () => boolean;
}

export type Script = (req: RecordedRequest, res: ServerResponse) => Promise<void> | void;

/**
 * A small OpenAI-compatible upstream, scripted per test: each incoming request takes the
 * next script from the queue (or the fallback). It records what the gateway sent.
 */
export class FakeUpstream {
  readonly requests: RecordedRequest[] = [];
  private readonly queue: Script[] = [];
  private fallback: Script = (_req, res) =>
    json(res, 500, { error: { message: 'no script', type: 'server_error' } });
  private server: Server | null = null;
  private readonly sockets = new Set<import('node:net').Socket>();

  get url(): string {
    const address = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}/v1`;
  }

  /** Queues scripts for the next requests, in order. */
  next(...scripts: Script[]): this {
    this.queue.push(...scripts);
    return this;
  }

  always(script: Script): this {
    this.fallback = script;
    return this;
  }

  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let aborted = false;
    const abortedPromise = new Promise<void>((resolve) => {
      res.once('close', () => {
        if (!res.writableFinished) {
          aborted = true;
          resolve();
        }
      });
    });
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
      aborted: abortedPromise,
      wasAborted: () => aborted,
    };
    this.requests.push(recorded);
    const script = this.queue.shift() ?? this.fallback;
    try {
      await script(recorded, res);
    } catch {
      res.destroy();
    }
  }
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SseOptions {
  /** Delay before each event, in milliseconds. */
  gapMs?: number;
  /** Leave out the final [DONE]. */
  noDone?: boolean;
  /** Destroy the connection after this many events. */
  cutAfter?: number;
}

/** Writes events as OpenAI does: `data: <json>\n\n` and a final `data: [DONE]`. */
export async function sse(
  res: ServerResponse,
  events: unknown[],
  options: SseOptions = {},
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [index, event] of events.entries()) {
    if (options.cutAfter === index) {
      res.destroy();
      return;
    }
    if (options.gapMs) await sleep(options.gapMs);
    if (res.destroyed) return;
    res.write(`data: ${JSON.stringify(event)}\n\n`);
  }
  if (!options.noDone) res.write('data: [DONE]\n\n');
  res.end();
}

/** A promise the test resolves when it chooses: holds upstream answers until then. */
export function newGate(): { open: () => void; opened: Promise<void> } {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/** Never answers: for timeouts. */
export const stall: Script = () => new Promise(() => {});

/** An upstream answer asking for one function call: `get_weather` for Paris, id `call_1`. */
export function toolCallCompletion(): Record<string, unknown> {
  return chatCompletion('', {
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ],
  });
}

export function chatCompletion(
  content: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: 'chatcmpl-upstream',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'upstream-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: 9,
      completion_tokens: 4,
      total_tokens: 13,
      prompt_tokens_details: { cached_tokens: 2 },
    },
    ...extra,
  };
}

export function chunk(
  delta: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: 'chatcmpl-upstream',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'upstream-model',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: null }],
    ...extra,
  };
}

/** A text streamed as OpenAI does: role first, content pieces, a finish chunk, then usage if asked. */
export function textChunks(
  pieces: string[],
  options: { usage?: boolean; index?: number } = {},
): Record<string, unknown>[] {
  const withUsage = options.usage ? { usage: null } : {};
  const index = options.index ?? 0;
  const at = (delta: Record<string, unknown>, finish: string | null = null) => ({
    ...chunk(delta, withUsage),
    choices: [{ index, delta, logprobs: null, finish_reason: finish }],
  });
  const events: Record<string, unknown>[] = [
    at({ role: 'assistant', content: '' }),
    ...pieces.map((content) => at({ content })),
    at({}, 'stop'),
  ];
  if (options.usage) {
    events.push({
      ...chunk({}),
      choices: [],
      usage: {
        prompt_tokens: 7,
        completion_tokens: pieces.length,
        total_tokens: 7 + pieces.length,
      },
    });
  }
  return events;
}
