import type { IncomingHttpHeaders } from 'node:http';
import type { RoutingStrategy } from '../../config/load.js';
import { STRATEGIES } from '../../config/model-schemas.js';
import { GatewayError } from '../../errors/gateway-error.js';

export const STRATEGY_HEADER = 'x-llm-backend-strategy';
export const MAX_LATENCY_HEADER = 'x-llm-backend-max-latency-ms';

export interface RoutingHints {
  /** Overrides the model's strategy for this request. */
  strategy: RoutingStrategy | undefined;
  /** A latency bound for routers such as `auto`. */
  maxLatencyMs: number | null;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The client's routing choices, from headers, since the OpenAI body has no room for them. */
export function routingHints(headers: IncomingHttpHeaders): RoutingHints {
  const strategy = single(headers[STRATEGY_HEADER]);
  if (strategy !== undefined && !(STRATEGIES as readonly string[]).includes(strategy)) {
    throw new GatewayError('invalid_request', {
      message: `The ${STRATEGY_HEADER} header must be one of ${STRATEGIES.join(', ')}.`,
      param: STRATEGY_HEADER,
    });
  }
  const latency = single(headers[MAX_LATENCY_HEADER]);
  const maxLatencyMs = latency === undefined ? null : Number(latency);
  if (maxLatencyMs !== null && !(Number.isInteger(maxLatencyMs) && maxLatencyMs > 0)) {
    throw new GatewayError('invalid_request', {
      message: `The ${MAX_LATENCY_HEADER} header must be a positive integer (milliseconds).`,
      param: MAX_LATENCY_HEADER,
    });
  }
  return { strategy: strategy as RoutingStrategy | undefined, maxLatencyMs };
}
