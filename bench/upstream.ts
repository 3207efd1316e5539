/**
 * The fake upstream: OpenAI's `/v1/chat/completions`, plain and streamed, on node:http with
 * every body built once per profile, so it costs next to nothing per request. Forked by the
 * harness; listens on a free port on 127.0.0.1 and reports it. The harness changes the
 * profile between phases over IPC.
 *
 *   a stream: the first chunk after `latencyMs`, then `chunks - 1` more `gapMs` apart, then a
 *   usage chunk when the request asks for `stream_options.include_usage`, then `[DONE]`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Command, reply, type UpstreamProfile } from './protocol.js';

const MODEL = 'bench-model';
const PROMPT_TOKENS = 12;
const created = Math.floor(Date.now() / 1000);

interface Bodies {
  profile: UpstreamProfile;
  completion: Buffer;
  chunks: Buffer[];
  usage: Buffer;
  done: Buffer;
}

function frame(data: unknown): Buffer {
  return Buffer.from(`data: ${JSON.stringify(data)}\n\n`);
}

function build(profile: UpstreamProfile): Bodies {
  const usage = {
    prompt_tokens: PROMPT_TOKENS,
    completion_tokens: profile.chunks,
    total_tokens: PROMPT_TOKENS + profile.chunks,
  };
  const base = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created, model: MODEL };
  const chunks = Array.from({ length: profile.chunks }, (_, i) =>
    frame({
      ...base,
      choices: [
        {
          index: 0,
          delta: i === 0 ? { role: 'assistant', content: 'Hello' } : { content: ' there' },
          finish_reason: i === profile.chunks - 1 ? 'stop' : null,
        },
      ],
    }),
  );
  const completion = Buffer.from(
    JSON.stringify({
      id: 'chatcmpl-bench',
      object: 'chat.completion',
      created,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: `Hello${' there'.repeat(profile.chunks - 1)}` },
          finish_reason: 'stop',
        },
      ],
      usage,
    }),
  );
  return {
    profile,
    completion,
    chunks,
    usage: frame({ ...base, choices: [], usage }),
    done: Buffer.from('data: [DONE]\n\n'),
  };
}

let bodies = build({ latencyMs: 0, chunks: 10, gapMs: 10 });
/** Chat requests received (whole body read), so the harness can count what reached it. */
let received = 0;

function later(ms: number, run: () => void): void {
  if (ms <= 0) run();
  else setTimeout(run, ms);
}

function answer(res: ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

function stream(res: ServerResponse, includeUsage: boolean): void {
  const { chunks, usage, done, profile } = bodies;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let next = 0;
  const send = () => {
    if (res.destroyed) return;
    const chunk = chunks[next++];
    if (chunk !== undefined) res.write(chunk);
    if (next < chunks.length) return void setTimeout(send, profile.gapMs);
    if (includeUsage) res.write(usage);
    res.end(done);
  };
  send();
}

interface ChatRequest {
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
    return;
  }
  const parts: Buffer[] = [];
  req.on('data', (part: Buffer) => parts.push(part));
  req.on('end', () => {
    let body: ChatRequest;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8')) as ChatRequest;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"invalid JSON","type":"invalid_request_error"}}');
      return;
    }
    received++;
    const { completion, profile } = bodies;
    if (body.stream === true) {
      const includeUsage = body.stream_options?.include_usage === true;
      later(profile.latencyMs, () => stream(res, includeUsage));
    } else {
      later(profile.latencyMs, () => answer(res, completion));
    }
  });
}

const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0 }, handle);
server.headersTimeout = 0;

process.on('message', (command: Command) => {
  if (command.kind === 'count') return reply({ kind: 'done', result: { requests: received } });
  if (command.kind !== 'profile') {
    reply({ kind: 'failed', message: `the upstream does not run '${command.kind}'` });
    return;
  }
  bodies = build(command.profile);
  reply({ kind: 'done', result: null });
});
process.on('disconnect', () => process.exit(0));

// A deep accept queue: 1,000 streams connect at once and none should wait on a SYN retry.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const address = server.address();
  reply({ kind: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
