import type { JsonObject } from '../../providers/types.js';
import type { Usage } from '../../services/inference/usage.js';
import { toAnthropicMessage } from '../../services/messages/response.js';
import { toMessageEvents } from '../../services/messages/stream.js';
import { fromNativeResponse, nativeResponseEvents } from '../../services/responses/native.js';
import { toResponse } from '../../services/responses/response.js';
import { type ResponseStreamOptions, toResponseEvents } from '../../services/responses/stream.js';
import { peekFirst } from '../../utils/peek.js';

type Frames = AsyncIterable<string> | Iterable<string>;

/**
 * How the client's API writes an answer the gateway holds in OpenAI's shapes: fresh from an
 * upstream, from the cache, or replayed for an Idempotency-Key. The one step between the
 * shared inference path and the wire, so every API runs the same admission and accounting.
 */
export interface AnswerFormat {
  /**
   * A whole answer; `usage` is what was accounted for it, when known. Async for an API that
   * keeps what it answered (the Responses API stores it before the client can ask for it).
   */
  json(answer: JsonObject, usage: Usage | null): string | Promise<string>;
  /** A stream's SSE frames; `usage` gives the accounted usage once the stream is over. */
  frames(frames: Frames, usage?: () => Promise<Usage | null>): Frames;
}

/** OpenAI's API: the answer exactly as the upstream sent it, unknown fields too. */
export const OPENAI_FORMAT: AnswerFormat = {
  json: (answer) => JSON.stringify(answer),
  frames: (frames) => frames,
};

/** Anthropic's Messages API over a chat answer (see services/messages). */
export function anthropicFormat(stopSequences: readonly string[]): AnswerFormat {
  return {
    json: (answer, usage) => JSON.stringify(toAnthropicMessage(answer, usage, stopSequences)),
    frames: (frames, usage) => toMessageEvents(frames, { stopSequences, usage }),
  };
}

export interface ResponsesFormatOptions {
  /** The response before the model answers: id, time and the request's settings. */
  shell: JsonObject;
  /** Keeps the finished response (when `store`), before the client sees it. */
  finished: (response: JsonObject) => Promise<void>;
  /** Unix seconds. */
  now: () => number;
}

/** OpenAI's Responses API over a chat answer (see services/responses). */
export function responsesFormat(options: ResponsesFormatOptions): AnswerFormat {
  return {
    json: async (answer, usage) => {
      // A Responses API upstream answered with a response of its own; others with a chat one.
      const response =
        answer.object === 'response'
          ? fromNativeResponse(options.shell, answer, usage)
          : toResponse(options.shell, answer, usage, options.now());
      await options.finished(response);
      return JSON.stringify(response);
    },
    frames: (frames, usage) => responseEvents(frames, { ...options, usage }),
  };
}

/** A Responses API event (`type`), not a chat chunk (which has none). */
function isTypedEvent(frame: string): boolean {
  try {
    const data = JSON.parse(frame.startsWith('data: ') ? frame.slice(6) : frame) as {
      type?: unknown;
    } | null;
    return typeof data?.type === 'string';
  } catch {
    return false;
  }
}

/** The typed events from a native upstream's events or from chat chunks, by the first frame. */
async function* responseEvents(frames: Frames, options: ResponseStreamOptions) {
  // Closing the events closes the frames: the relay's end (its outcome) runs only then.
  const { first, all: rest } = await peekFirst(frames);
  yield* !first.done && isTypedEvent(first.value)
    ? nativeResponseEvents(rest, options)
    : toResponseEvents(rest, options);
}
