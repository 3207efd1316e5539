import { type Static, Type } from '@sinclair/typebox';
import { checked } from './checked.js';

/** The `alerts` section of the config file: when an episode opens. Every field has a default. */
export const AlertsSchema = Type.Object(
  {
    /** The rolling window error rates, latencies and consumption are judged over. */
    window_seconds: Type.Integer({ minimum: 10, maximum: 3600, default: 60 }),
    error_rate: Type.Object(
      {
        /** Share of a tenant's requests to one model that failed (status 500 and above). */
        threshold: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.5 }),
        min_requests: Type.Integer({ minimum: 1, default: 20 }),
      },
      { additionalProperties: false, default: {} },
    ),
    consumption: Type.Object(
      {
        /** Tokens in the window against the tenant's average window over the baseline. */
        factor: Type.Number({ exclusiveMinimum: 1, default: 5 }),
        min_tokens: Type.Integer({ minimum: 1, default: 10_000 }),
        baseline_minutes: Type.Integer({ minimum: 5, maximum: 10_080, default: 60 }),
      },
      { additionalProperties: false, default: {} },
    ),
    latency: Type.Object(
      {
        /** A model's p95 latency (to the first token for streams) against its own baseline. */
        factor: Type.Number({ exclusiveMinimum: 1, default: 3 }),
        min_requests: Type.Integer({ minimum: 1, default: 20 }),
        baseline_minutes: Type.Integer({ minimum: 5, maximum: 10_080, default: 60 }),
      },
      { additionalProperties: false, default: {} },
    ),
    event_loop: Type.Object(
      {
        /** The gateway's own event-loop delay, p99 over the window. */
        p99_ms: Type.Integer({ minimum: 1, default: 200 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

export interface AlertsConfig {
  windowMs: number;
  errorRate: { threshold: number; minRequests: number };
  consumption: { factor: number; minTokens: number; baselineMs: number };
  latency: { factor: number; minRequests: number; baselineMs: number };
  eventLoop: { p99Ms: number };
}

function resolve(entry: Static<typeof AlertsSchema>): AlertsConfig {
  return {
    windowMs: entry.window_seconds * 1000,
    errorRate: {
      threshold: entry.error_rate.threshold,
      minRequests: entry.error_rate.min_requests,
    },
    consumption: {
      factor: entry.consumption.factor,
      minTokens: entry.consumption.min_tokens,
      baselineMs: entry.consumption.baseline_minutes * 60_000,
    },
    latency: {
      factor: entry.latency.factor,
      minRequests: entry.latency.min_requests,
      baselineMs: entry.latency.baseline_minutes * 60_000,
    },
    eventLoop: { p99Ms: entry.event_loop.p99_ms },
  };
}

/** The section checked, with defaults for what is left out; null after listing problems. */
export function readAlerts(raw: unknown, errors: string[]): AlertsConfig {
  const entry = checked(AlertsSchema, raw ?? {}, '/alerts', errors);
  return resolve(
    entry ?? (checked(AlertsSchema, {}, '/alerts', []) as Static<typeof AlertsSchema>),
  );
}
