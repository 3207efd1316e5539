import { createParser } from 'eventsource-parser';

/**
 * Turns a byte stream of Server-Sent Events into their `data` payloads, one event at a time,
 * so nothing is buffered beyond the event being read. Returns when `[DONE]` arrives; throws
 * if the stream ends without it, because a cut stream must not pass for a finished one.
 */
export async function* readSseData(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const pending: string[] = [];
  const parser = createParser({ onEvent: (event) => pending.push(event.data) });
  for await (const bytes of body) {
    parser.feed(decoder.decode(bytes, { stream: true }));
    while (pending.length > 0) {
      const data = pending.shift() as string;
      if (data === '[DONE]') return;
      yield data;
    }
  }
  throw new TruncatedStreamError();
}

export class TruncatedStreamError extends Error {
  constructor() {
    super('stream ended before [DONE]');
    this.name = 'TruncatedStreamError';
  }
}
