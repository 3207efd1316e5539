import { type Static, Type } from '@sinclair/typebox';
import { ModelCacheSchema } from './cache.js';

export const STRATEGIES = [
  'priority',
  'weighted',
  'least-latency',
  'least-busy',
  'lowest-cost',
] as const;

const Strategy = Type.Union(STRATEGIES.map((name) => Type.Literal(name)));

const Capabilities = Type.Object(
  {
    chat: Type.Boolean({ default: true }),
    completions: Type.Boolean({ default: false }),
    embeddings: Type.Boolean({ default: false }),
    tools: Type.Boolean({ default: false }),
    vision: Type.Boolean({ default: false }),
    json_mode: Type.Boolean({ default: false }),
    context_window: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { default: null }),
  },
  { additionalProperties: false, default: {} },
);

/** Prices in US dollars per million tokens. */
const pricingFields = {
  input: Type.Number({ minimum: 0, default: 0 }),
  output: Type.Number({ minimum: 0, default: 0 }),
  cached_input: Type.Number({ minimum: 0, default: 0 }),
};
/** Batch API prices, field by field; a field not set is half the normal price. */
const BatchPricing = Type.Object(
  {
    input: Type.Optional(Type.Number({ minimum: 0 })),
    output: Type.Optional(Type.Number({ minimum: 0 })),
    cached_input: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
const Pricing = Type.Object(
  { ...pricingFields, batch: Type.Optional(BatchPricing) },
  { additionalProperties: false, default: {} },
);

const DEPLOYMENT_ID = '^[a-z0-9][a-z0-9_.-]*$';

/** One place a model is served from. */
const Deployment = Type.Object(
  {
    /** Unique within the model; defaults to the provider id. */
    id: Type.Optional(Type.String({ pattern: DEPLOYMENT_ID, maxLength: 64 })),
    provider: Type.String({ minLength: 1 }),
    /** The model name sent upstream (the Azure deployment name for azure-openai). */
    model: Type.Optional(Type.String({ minLength: 1 })),
    weight: Type.Number({ minimum: 0, default: 1 }),
    /** Lower is tried first by the priority strategy. */
    priority: Type.Integer({ minimum: 0, default: 0 }),
    region: Type.Optional(Type.String({ minLength: 1 })),
    requests_per_minute: Type.Optional(Type.Integer({ minimum: 1 })),
    tokens_per_minute: Type.Optional(Type.Integer({ minimum: 1 })),
    /** What this deployment costs, field by field where it differs from the model's. */
    pricing: Type.Optional(
      Type.Object(
        {
          input: Type.Optional(Type.Number({ minimum: 0 })),
          output: Type.Optional(Type.Number({ minimum: 0 })),
          cached_input: Type.Optional(Type.Number({ minimum: 0 })),
          batch: Type.Optional(BatchPricing),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const ModelRouting = Type.Object(
  {
    strategy: Type.Optional(Strategy),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
    /** Models tried in order once every deployment of this one failed. */
    fallbacks: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    /** Models tried in order when the request is too long for this one. */
    context_window_fallbacks: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  },
  { additionalProperties: false, default: {} },
);

export const ModelSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[^\\s]+$' }),
    /** Shorthand for a single deployment. */
    provider: Type.Optional(Type.String({ minLength: 1 })),
    model: Type.Optional(Type.String({ minLength: 1 })),
    deployments: Type.Optional(Type.Array(Deployment, { minItems: 1, maxItems: 64 })),
    routing: ModelRouting,
    owned_by: Type.Optional(Type.String({ minLength: 1 })),
    created: Type.Optional(Type.Integer({ minimum: 0 })),
    capabilities: Capabilities,
    pricing: Pricing,
    /** How its answers are cached, where it differs from the file's `cache` section. */
    cache: Type.Optional(ModelCacheSchema),
  },
  { additionalProperties: false },
);

/** The top-level `routing` section: defaults for every model, and the circuit breakers. */
export const RoutingSchema = Type.Object(
  {
    strategy: Type.Union([Strategy], { default: 'priority' }),
    /**
     * Attempts again on deployments already tried, after a backoff (or the upstream's
     * retry-after). Moving on to a deployment not tried yet costs none.
     */
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 0 }),
    backoff_base_ms: Type.Integer({ minimum: 0, maximum: 60_000, default: 250 }),
    backoff_max_ms: Type.Integer({ minimum: 0, maximum: 300_000, default: 5_000 }),
    /** A longer `retry-after` moves on to another deployment instead of waiting. */
    max_retry_after_ms: Type.Integer({ minimum: 0, maximum: 300_000, default: 10_000 }),
    circuit_breaker: Type.Object(
      {
        /** Consecutive failures that open a deployment's circuit. */
        failure_threshold: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
        /** How long an open circuit refuses traffic before a probe may go through. */
        cooldown_ms: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 30_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** How often each deployment is probed (its model list); 0 turns probing off. */
    health_check_interval_ms: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 0 }),
  },
  { additionalProperties: false, default: {} },
);

/** A name such as `auto` that picks the cheapest model meeting the request's needs. */
export const RouterSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[^\\s]+$' }),
    /** The models it chooses from; all chat models when absent. */
    models: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
    /** Models whose observed latency is above this are passed over. */
    max_latency_ms: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export type ModelEntry = Static<typeof ModelSchema>;
export type DeploymentEntry = Static<typeof Deployment>;
export type RoutingEntry = Static<typeof RoutingSchema>;
export type RouterEntry = Static<typeof RouterSchema>;
