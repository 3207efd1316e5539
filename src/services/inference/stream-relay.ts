import { GatewayError } from '../../errors/gateway-error.js';
import type { ChunkStream, JsonObject } from '../../providers/types.js';
import { estimatedUsage, estimateTokens, messageText } from './estimate.js';
import { toGatewayError } from './upstream-errors.js';
import { readUsage, type Usage } from './usage.js';

export interface StreamOutcome {
  usage: Usage;
  /** What ended the stream early, if anything. */
  error: GatewayError | null;
  /** The client went away before the end. */
  clientAborted: boolean;
  /** Milliseconds from the start of the relay to the first chunk, if one came. */
  timeToFirstChunkMs: number | null;
}

export interface RelayOptions {
  upstream: ChunkStream;
  /** The client asked for the usage chunk itself (otherwise it was added for accounting). */
  clientWantsUsage: boolean;
  estimatePrompt: () => Promise<number>;
  signal: AbortSignal;
  /** When the request went upstream (performance.now()); defaults to the relay's start. */
  startedAt?: number;
  /**
   * Awaited after the last chunk and before the final `data: [DONE]`: what must be durable
   * before the client holds the whole answer (its usage event). Given the stream's outcome.
   */
  commit?: (outcome: StreamOutcome) => Promise<void>;
}

export interface Relay {
  /** SSE frames, ready to write, ending with `data: [DONE]` or an error event. */
  events: AsyncGenerator<string>;
  /** Settles once the stream has ended, however it ended, with the usage to account. */
  outcome: Promise<StreamOutcome>;
  /** The usage so far: reported by the upstream, or estimated from what went out. */
  progress(): Promise<Usage>;
}

const sse = (data: string) => `data: ${data}\n\n`;

/** Text the model produced in a chunk, for estimating usage when the upstream gives none. */
function producedText(chunk: JsonObject): string {
  // The Responses API's events (native upstreams): the text deltas.
  if (chunk.type === 'response.output_text.delta' || chunk.type === 'response.refusal.delta')
    return typeof chunk.delta === 'string' ? chunk.delta : '';
  let text = '';
  const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
  for (const choice of choices as { text?: unknown; delta?: unknown }[]) {
    if (typeof choice.text === 'string') text += choice.text;
    text += messageText(choice.delta);
  }
  return text;
}

/**
 * Relays upstream chunks to the client as SSE, one by one: the consumer pulls, so a slow
 * client slows the upstream read (backpressure) instead of growing a buffer. Takes usage
 * from the stream, hides the usage the gateway asked for on the client's behalf, and turns
 * a failure after the first byte into a final `data: {"error":...}` event.
 */
export function createRelay(options: RelayOptions): Relay {
  const started = options.startedAt ?? performance.now();
  let timeToFirstChunkMs: number | null = null;
  let usage: Usage | null = null;
  let produced = '';
  let error: GatewayError | null = null;
  let completed = false;
  let settle: ((outcome: StreamOutcome) => void) | null = null;
  const outcome = new Promise<StreamOutcome>((resolve) => {
    settle = resolve;
  });

  let prompt: Promise<number> | null = null;
  // The prompt is estimated once, however often progress is asked for.
  const progress = async (): Promise<Usage> => {
    if (usage !== null) return usage;
    prompt ??= options.estimatePrompt();
    return estimatedUsage(await prompt, await estimateTokens(produced));
  };
  const current = async (): Promise<StreamOutcome> => {
    usage ??= await progress();
    return {
      usage,
      error,
      clientAborted: options.signal.aborted && !completed,
      timeToFirstChunkMs,
    };
  };
  const finish = async () => {
    const resolve = settle;
    if (resolve === null) return;
    settle = null;
    resolve(await current());
  };
  // A client gone before the first pull never runs the generator, so its finally never runs.
  options.signal.addEventListener('abort', () => void finish(), { once: true });

  async function* events(): AsyncGenerator<string> {
    try {
      for await (const data of options.upstream) {
        timeToFirstChunkMs ??= performance.now() - started;
        const chunk = parseChunk(data);
        const failure = failureOf(chunk);
        if (failure !== undefined) {
          // Shown like an upstream failure outside a stream: the detail stays with us.
          throw new GatewayError('upstream_error', { cause: failure });
        }
        produced += producedText(chunk);
        usage = readUsage(chunk.usage) ?? responseUsage(chunk) ?? usage;
        if (options.clientWantsUsage || !('usage' in chunk)) {
          yield sse(data);
          continue;
        }
        const { usage: _hidden, ...visible } = chunk;
        if (Array.isArray(visible.choices) && visible.choices.length === 0) continue;
        yield sse(JSON.stringify(visible));
      }
      completed = true;
      if (options.commit !== undefined) await options.commit(await current());
      yield sse('[DONE]');
    } catch (caught) {
      if (!options.signal.aborted) {
        error = toGatewayError(caught);
        yield sse(JSON.stringify(error.toBody()));
      }
    } finally {
      await finish();
    }
  }

  return { events: events(), outcome, progress };
}

/** A chat chunk's `error`, or a Responses API `error` or `response.failed` event's. */
function failureOf(chunk: JsonObject): unknown {
  if (chunk.error !== undefined) return chunk.error;
  if (chunk.type === 'error') return chunk;
  if (chunk.type === 'response.failed')
    return (chunk.response as JsonObject | undefined)?.error ?? chunk;
  return undefined;
}

/** The usage a Responses API stream reports in its final response. */
function responseUsage(chunk: JsonObject): Usage | null {
  if (chunk.type !== 'response.completed' && chunk.type !== 'response.incomplete') return null;
  return readUsage((chunk.response as JsonObject | undefined)?.usage);
}

function parseChunk(data: string): JsonObject {
  try {
    const chunk: unknown = JSON.parse(data);
    if (chunk !== null && typeof chunk === 'object' && !Array.isArray(chunk))
      return chunk as JsonObject;
  } catch {
    // Falls through to the same error as a non-object chunk.
  }
  throw new GatewayError('upstream_error', {
    message: 'The upstream provider sent a malformed stream chunk.',
  });
}
