import { Counter, Histogram, type Registry } from 'prom-client';
import { seriesOf } from './series.js';

/** Stands for the model, provider or deployment of a request that never reached one. */
export const NO_MODEL = 'none';

/** One finished inference request, in label values (the tenant's already capped). */
export interface InferenceOutcome {
  route: string;
  tenant: string;
  model: string;
  provider: string;
  deployment: string;
  ok: boolean;
  /** The OpenAI error code sent; null for none (a success, or a client that went away). */
  errorCode: string | null;
  seconds: number;
  /** Streams: until the first chunk; null otherwise. */
  firstTokenSeconds: number | null;
  /** Tokens spent upstream; null when none were (cache hits, shared answers, failures). */
  tokens: { input: number; output: number; cached: number; estimated: boolean } | null;
  /** Dollars spent upstream. */
  cost: number;
  /** Dollars a cache hit saved. */
  saved: number;
}

export interface InferenceMetrics {
  record(outcome: InferenceOutcome): void;
  /** A cache's decision for a request (cache: exact | semantic). */
  cache(tenant: string, cache: string, outcome: string): void;
  /** Where `previous_response_id` found its conversation (hit, miss, error). */
  conversationState(tenant: string, outcome: string): void;
}

const TIME_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];
const FIRST_TOKEN_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];

export function inferenceMetrics(registry: Registry): InferenceMetrics {
  const requests = new Counter({
    name: 'llm_backend_inference_requests_total',
    help: 'Requests to the inference routes by route, model, provider, deployment, tenant and outcome (ok, error); model "none" when none was reached.',
    labelNames: ['route', 'model', 'provider', 'deployment', 'tenant', 'outcome'],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'llm_backend_inference_errors_total',
    help: 'Inference requests answered with an error, by the OpenAI error code sent.',
    labelNames: ['route', 'model', 'provider', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'llm_backend_inference_duration_seconds',
    help: 'Inference requests that reached a model, until the last byte of the answer.',
    labelNames: ['route', 'model', 'provider', 'deployment'],
    buckets: TIME_BUCKETS,
    registers: [registry],
  });
  const firstToken = new Histogram({
    name: 'llm_backend_time_to_first_token_seconds',
    help: 'Streamed answers: time until the first chunk reached the client.',
    labelNames: ['route', 'model', 'provider', 'deployment'],
    buckets: FIRST_TOKEN_BUCKETS,
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'llm_backend_tokens_total',
    help: 'Tokens spent upstream by tenant, model, provider, kind (input, output, cached) and whether estimated.',
    labelNames: ['tenant', 'model', 'provider', 'kind', 'estimated'],
    registers: [registry],
  });
  const cost = new Counter({
    name: 'llm_backend_cost_usd_total',
    help: "Dollars spent upstream at the models' configured prices, by tenant, model and provider.",
    labelNames: ['tenant', 'model', 'provider'],
    registers: [registry],
  });
  const caches = new Counter({
    name: 'llm_backend_cache_requests_total',
    help: 'Requests a cache applied to, by tenant, cache (exact, semantic) and outcome (hit, miss, bypass, skip).',
    labelNames: ['tenant', 'cache', 'outcome'],
    registers: [registry],
  });
  const saved = new Counter({
    name: 'llm_backend_cache_saved_usd_total',
    help: 'Dollars not spent upstream thanks to cache hits, at the models prices, by tenant and model.',
    labelNames: ['tenant', 'model'],
    registers: [registry],
  });
  const states = new Counter({
    name: 'llm_backend_responses_state_lookups_total',
    help: 'Conversations previous_response_id looked up in the conversation cache, by tenant and outcome (hit; miss or error: read from the database).',
    labelNames: ['tenant', 'outcome'],
    registers: [registry],
  });
  const perRequest = seriesOf((route, model, provider, deployment, tenant, outcome) =>
    requests.labels(route, model, provider, deployment, tenant, outcome),
  );
  const perError = seriesOf((route, model, provider, code) =>
    errors.labels(route, model, provider, code),
  );
  const timing = seriesOf((route, model, provider, deployment) => ({
    whole: duration.labels(route, model, provider, deployment),
    first: firstToken.labels(route, model, provider, deployment),
  }));
  const spent = seriesOf((tenant, model, provider, estimated) => ({
    input: tokens.labels(tenant, model, provider, 'input', estimated),
    output: tokens.labels(tenant, model, provider, 'output', estimated),
    cached: tokens.labels(tenant, model, provider, 'cached', estimated),
    cost: cost.labels(tenant, model, provider),
  }));
  const perCache = seriesOf((tenant, cache, outcome) => caches.labels(tenant, cache, outcome));
  const savedBy = seriesOf((tenant, model) => saved.labels(tenant, model));
  const perState = seriesOf((tenant, outcome) => states.labels(tenant, outcome));
  return {
    record(o) {
      const { route, model, provider, deployment, tenant } = o;
      perRequest(route, model, provider, deployment, tenant, o.ok ? 'ok' : 'error').inc();
      if (o.errorCode !== null) perError(route, model, provider, o.errorCode).inc();
      // Only answers a deployment gave have a duration and tokens: a refusal or a request whose
      // every attempt failed keeps its model for the counts above, not for the latencies.
      if (deployment === NO_MODEL) return;
      const time = timing(route, model, provider, deployment);
      time.whole.observe(o.seconds);
      if (o.firstTokenSeconds !== null) time.first.observe(o.firstTokenSeconds);
      if (o.tokens !== null) {
        const s = spent(tenant, model, provider, String(o.tokens.estimated));
        s.input.inc(o.tokens.input);
        s.output.inc(o.tokens.output);
        s.cached.inc(o.tokens.cached);
        if (o.cost > 0) s.cost.inc(o.cost);
      }
      if (o.saved > 0) savedBy(tenant, model).inc(o.saved);
    },
    cache: (tenant, cache, outcome) => perCache(tenant, cache, outcome).inc(),
    conversationState: (tenant, outcome) => perState(tenant, outcome).inc(),
  };
}
