import { createParser } from 'eventsource-parser';

export interface ServerSentEvent {
  /** The `event:` field; undefined when the server sent none. */
  event: string | undefined;
  data: string;
}

/**
 * Turns a byte stream of Server-Sent Events into events, one at a time, so nothing is
 * buffered beyond the event being read. Returns at the first event `isEnd` accepts (that
 * event is not yielded); throws if the stream ends before one, because a cut stream must
 * not pass for a finished one.
 */
export async function* readSseEvents(
  body: AsyncIterable<Uint8Array>,
  isEnd: (event: ServerSentEvent) => boolean,
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  const pending: ServerSentEvent[] = [];
  const parser = createParser({
    onEvent: ({ event, data }) => pending.push({ event, data }),
  });
  for await (const bytes of body) {
    parser.feed(decoder.decode(bytes, { stream: true }));
    while (pending.length > 0) {
      const event = pending.shift() as ServerSentEvent;
      if (isEnd(event)) return;
      yield event;
    }
  }
  throw new TruncatedStreamError();
}

/** OpenAI's streams: the `data` payloads, up to the final `data: [DONE]`. */
export async function* readSseData(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  for await (const event of readSseEvents(body, (event) => event.data === '[DONE]')) {
    yield event.data;
  }
}

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed', 'error']);

/**
 * The Responses API's streams: the `data` payloads of its typed events, up to and with the
 * terminal one (`response.completed`, `.incomplete`, `.failed` or `error`): they send no
 * `[DONE]`, though some servers add one after it.
 */
export async function* readResponseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  for await (const event of readSseEvents(body, (event) => event.data === '[DONE]')) {
    yield event.data;
    if (TERMINAL.has(event.event ?? typeOf(event.data))) return;
  }
}

function typeOf(data: string): string {
  try {
    const parsed = JSON.parse(data) as { type?: unknown } | null;
    return typeof parsed?.type === 'string' ? parsed.type : '';
  } catch {
    return '';
  }
}

export class TruncatedStreamError extends Error {
  constructor() {
    super('stream ended before its end marker');
    this.name = 'TruncatedStreamError';
  }
}
