import type { ModelConfig } from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import type {
  InferenceCall,
  InferenceResult,
  InferenceStream,
  Served,
} from '../inference/inference-service.js';
import type { Capability } from '../inference/model-catalog.js';
import { toGatewayError } from '../inference/upstream-errors.js';
import type { Usage } from '../inference/usage.js';
import { type FlightEntry, type ServedName, shareError } from './entries.js';

/** The upstream calls a flight makes: the inference service, or anything shaped like it. */
export interface Upstream {
  complete(
    capability: Capability,
    body: JsonObject,
    call: InferenceCall,
    model: ModelConfig,
  ): Promise<InferenceResult>;
  stream(
    capability: Exclude<Capability, 'embeddings'>,
    body: JsonObject,
    call: InferenceCall,
    model: ModelConfig,
  ): Promise<InferenceStream>;
}

export interface UpstreamCall {
  capability: Capability;
  body: JsonObject;
  call: InferenceCall;
  model: ModelConfig;
  stream: boolean;
}

export const servedName = (served: Served): ServedName => ({
  model: served.model.name,
  deployment: served.deployment.id,
  attempts: served.attempts,
  byok: served.byok,
});

const failure = (error: unknown, usage: Usage | null = null): FlightEntry => ({
  type: 'error',
  error: shareError(toGatewayError(error)),
  usage,
});

/** Makes the upstream call and writes what it answers to `sink`, ending with a final entry. */
export async function pump(
  upstream: Upstream,
  request: UpstreamCall,
  sink: (entry: FlightEntry) => void,
): Promise<void> {
  const { capability, body, call, model } = request;
  if (!request.stream || capability === 'embeddings') {
    try {
      const result = await upstream.complete(capability, body, call, model);
      sink({ type: 'result', served: servedName(result), body: result.body, usage: result.usage });
    } catch (error) {
      sink(failure(error));
    }
    return;
  }
  let stream: InferenceStream;
  try {
    // Every subscriber hides or shows the usage chunk for its own client.
    const options = isObject(body.stream_options) ? body.stream_options : {};
    const withUsage = { ...body, stream_options: { ...options, include_usage: true } };
    stream = await upstream.stream(capability, withUsage, call, model);
  } catch (error) {
    sink(failure(error));
    return;
  }
  sink({ type: 'head', served: servedName(stream) });
  for await (const frame of stream.events) {
    const data = frame.slice('data: '.length, -'\n\n'.length);
    // The relay's last frame is [DONE] or its error event, told apart by the outcome below.
    if (data === '[DONE]' || isErrorFrame(data)) break;
    sink({ type: 'chunk', data });
  }
  const outcome = await stream.outcome;
  if (outcome.error !== null) sink(failure(outcome.error, outcome.usage));
  // Cut because nobody wanted the answer any more: whoever still reads it retries.
  else if (outcome.clientAborted) sink(failure(new GatewayError('upstream_error'), outcome.usage));
  else sink({ type: 'end', usage: outcome.usage });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Upstream chunks with an `error` become the relay's error; so a frame with one is that. */
function isErrorFrame(data: string): boolean {
  if (!data.startsWith('{"error"')) return false;
  try {
    return 'error' in (JSON.parse(data) as object);
  } catch {
    return false;
  }
}
