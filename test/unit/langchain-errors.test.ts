import { ContextOverflowError } from '@langchain/core/errors';
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import { InvalidRequest, toUpstreamError } from '../../src/providers/langchain/errors.js';

/** Shaped like the Anthropic SDK's APIError: status, web Headers, the parsed body. */
function anthropicApiError(status: number, type: string, message: string, retryAfter?: string) {
  const error = new Error(
    `${status} ${JSON.stringify({ type: 'error', error: { type, message } })}`,
  );
  return Object.assign(error, {
    name: 'RateLimitError',
    status,
    headers: new Headers(retryAfter ? { 'retry-after': retryAfter } : {}),
    error: { type: 'error', error: { type, message } },
  });
}

describe('SDK errors to UpstreamError', () => {
  it('keeps status, an OpenAI-shaped body and retry-after', () => {
    const error = toUpstreamError(
      'claude',
      anthropicApiError(429, 'rate_limit_error', 'Slow down', '7'),
    );
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.failure).toEqual({
      kind: 'http',
      status: 429,
      body: {
        error: {
          message: 'Slow down',
          type: 'rate_limit_error',
          param: null,
          code: 'rate_limit_exceeded',
        },
      },
      retryAfter: '7',
    });
  });

  it('finds the SDK error under a ContextOverflowError and marks the context length', () => {
    const sdk = anthropicApiError(
      400,
      'invalid_request_error',
      'prompt is too long: 210000 tokens',
    );
    const error = toUpstreamError('claude', ContextOverflowError.fromError(sdk));
    expect(error.failure).toMatchObject({
      kind: 'http',
      status: 400,
      body: { error: { code: 'context_length_exceeded', type: 'invalid_request_error' } },
    });
  });

  it('reads Google SDK errors: status, message and RetryInfo', () => {
    const google = Object.assign(
      new Error(
        '[GoogleGenerativeAI Error]: Error fetching from https://x/v1beta/models/g:generateContent: [429 Too Many Requests] Resource exhausted [{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"6.5s"}]',
      ),
      {
        status: 429,
        statusText: 'Too Many Requests',
        errorDetails: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '6.5s' }],
      },
    );
    const error = toUpstreamError('gemini', google);
    expect(error.failure).toMatchObject({
      kind: 'http',
      status: 429,
      body: { error: { message: 'Resource exhausted', type: 'rate_limit_error' } },
      retryAfter: '7',
    });
  });

  it('maps connection failures and timeouts', () => {
    const connection = Object.assign(new Error('Connection error.'), {
      name: 'APIConnectionError',
    });
    expect(toUpstreamError('p', connection).failure).toEqual({ kind: 'unreachable' });
    const refused = new Error('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    expect(toUpstreamError('p', refused).failure).toEqual({ kind: 'unreachable' });
    const timeout = Object.assign(new Error('Request timed out.'), {
      name: 'APIConnectionTimeoutError',
    });
    expect(toUpstreamError('p', timeout, 'idle').failure).toEqual({
      kind: 'timeout',
      phase: 'idle',
    });
    expect(toUpstreamError('p', new Error('odd')).failure).toEqual({
      kind: 'protocol',
      detail: 'odd',
    });
  });

  it('turns a request the bridge refuses into an upstream 400', () => {
    const error = toUpstreamError('p', new InvalidRequest('Only n=1 is supported.', 'n'));
    expect(error.failure).toEqual({
      kind: 'http',
      status: 400,
      body: {
        error: {
          message: 'Only n=1 is supported.',
          type: 'invalid_request_error',
          param: 'n',
          code: null,
        },
      },
      retryAfter: null,
    });
  });
});
