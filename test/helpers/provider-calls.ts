import { expect } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import type { CallContext, JsonObject } from '../../src/providers/types.js';

/** What the inference service hands a provider: a signal nobody aborts, and a request id. */
export function callContext(requestId: string, extra: Partial<CallContext> = {}): CallContext {
  return { signal: new AbortController().signal, requestId, ...extra };
}

/** A chat request with a system prompt and one user message, as providers receive it. */
export function chatRequest(model: string, extra: JsonObject = {}): JsonObject {
  return {
    model,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ],
    ...extra,
  };
}

/** Every chunk of a provider's stream, parsed. */
export async function collectChunks(stream: AsyncIterable<string>): Promise<JsonObject[]> {
  const chunks: JsonObject[] = [];
  for await (const data of stream) chunks.push(JSON.parse(data) as JsonObject);
  return chunks;
}

/** The UpstreamError a provider call rejects with; fails the test if it does not. */
export async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}
