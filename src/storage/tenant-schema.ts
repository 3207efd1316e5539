import type { ColumnType } from 'kysely';
import type { LimitValues } from '../domain/limit-kinds.js';
import type { QuotaMetric, QuotaPeriod } from '../domain/quota.js';
import type { LimitScope, TenantRole } from '../domain/roles.js';
import type { UserStatus } from '../domain/user.js';
import type { DeliveryStatus, WebhookStatus } from '../domain/webhook.js';
import type { AuditLogTable } from './control-schema.js';

export type { DeliveryStatus, LimitScope, QuotaMetric, QuotaPeriod, TenantRole, WebhookStatus };

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  role: TenantRole;
  status: ColumnType<UserStatus, UserStatus | undefined>;
  /** The models the user's keys may use, within the tenant's; null: no limit of its own. */
  allowed_models: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  display_prefix: string;
  key_hash: string;
  previous_key_hash: string | null;
  previous_valid_until: Date | null;
  user_id: string | null;
  role: TenantRole;
  allowed_models: string[] | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_at: Timestamp;
}

/** Plus one integer column per kind of limit (domain/limit-kinds.ts), null: not limited. */
export interface RateLimitsTable extends LimitValues {
  id: string;
  scope: LimitScope;
  subject_id: string | null;
  model: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface QuotasTable {
  id: string;
  scope: LimitScope;
  subject_id: string | null;
  metric: QuotaMetric;
  period: QuotaPeriod;
  /** numeric: read back as a string, exact. */
  amount: ColumnType<string, number, number>;
  /** Soft thresholds, percent of the amount: 1 to 100, ascending. */
  thresholds: ColumnType<number[], number[] | undefined, number[]>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UsageRecordsTable {
  id: string;
  at: Timestamp;
  request_id: string;
  user_id: string | null;
  key_id: string;
  model: string;
  provider: string;
  /** bigint: pg reads it back as a string. */
  input_tokens: ColumnType<string, number, number>;
  output_tokens: ColumnType<string, number, number>;
  cached_tokens: ColumnType<string, number, number>;
  estimated: boolean;
  /** numeric: read back as a string, exact. */
  cost: ColumnType<string, number, number>;
  latency_ms: number;
  time_to_first_token_ms: number | null;
  status: number;
  streamed: boolean;
  client_disconnected: boolean;
  /** Answered from the response cache. */
  cache_hit: ColumnType<boolean, boolean | undefined, boolean>;
  /** What the upstream would have cost for a cache hit; numeric, read back as a string. */
  saved_cost: ColumnType<string, number | undefined, number>;
  /** Served with the tenant's own provider key: no provider cost to the platform. */
  byok: ColumnType<boolean, boolean | undefined, boolean>;
  /** The price plan version the charge came from; null when the tenant had none. */
  price_plan_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** What the charge is for: `rate_card`, `cost_plus`, `byok`, `cache_hit` or `none`. */
  charge_basis: ColumnType<string, string | undefined, string>;
  /** The charge's parts in micro-units (bigint, read back as strings). */
  charge_input_micros: ColumnType<string, number | undefined, number>;
  charge_cached_micros: ColumnType<string, number | undefined, number>;
  charge_output_micros: ColumnType<string, number | undefined, number>;
  charge_other_micros: ColumnType<string, number | undefined, number>;
  /** The invoice that billed the record; null until one did. */
  invoice_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** A line of a Batch API batch, charged at the batch price. */
  batch: ColumnType<boolean, boolean | undefined, boolean>;
}

/** bigint money columns: written as numbers, read back as strings. */
type Micros = ColumnType<string, number, number>;

/** A price plan version, effective from `effective_at` until the next one. */
export interface PricePlansTable {
  id: string;
  effective_at: Timestamp;
  currency: string;
  markup_ppm: Micros;
  /** Units of the plan's currency per US dollar, in micro-units. */
  usd_rate_micros: Micros;
  /** `{ model: { input, cached_input, output } }`: micro-units per million tokens. */
  rates: ColumnType<Record<string, Record<string, number>>, string, string>;
  base_fee_micros: Micros;
  included_micros: Micros;
  byok_fee_micros: Micros;
  tax_ppm: Micros;
  created_at: Timestamp;
}

export interface CreditsTable {
  id: string;
  currency: string;
  amount_micros: Micros;
  remaining_micros: Micros;
  reason: string;
  expires_at: Date | null;
  created_at: Timestamp;
}

export interface InvoicesTable {
  id: string;
  kind: 'invoice' | 'credit_note';
  number: string;
  period: string;
  status: 'finalized' | 'paid' | 'void';
  currency: string;
  price_plan_id: string | null;
  subtotal_micros: Micros;
  tax_ppm: Micros;
  tax_micros: Micros;
  total_micros: Micros;
  credits_micros: Micros;
  amount_due_micros: Micros;
  refers_to: string | null;
  memo: string | null;
  finalized_at: Timestamp;
  paid_at: Date | null;
  voided_at: Date | null;
}

export interface InvoiceLinesTable {
  invoice_id: string;
  position: number;
  kind: string;
  description: string;
  model: string | null;
  period: string | null;
  quantity: Micros;
  unit: string;
  unit_price_micros: ColumnType<string | null, number | null, number | null>;
  amount_micros: Micros;
  credit_id: string | null;
}

/** The tenant's response cache settings: one row at most, null fields follow the defaults. */
export interface CacheSettingsTable {
  id: ColumnType<number, number | undefined, never>;
  enabled: boolean | null;
  ttl_seconds: number | null;
  max_entry_bytes: number | null;
  /** bigint: pg reads it back as a string. */
  budget_bytes: ColumnType<string | null, number | null, number | null>;
  allow_nondeterministic: boolean | null;
  /** The semantic cache's settings in their wire form; written as JSON text. */
  semantic: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  updated_at: Timestamp;
}

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: ColumnType<string, string | undefined, string>;
  /** Exact event types, or `prefix.*` patterns; never empty. */
  event_types: string[];
  /** AES-256-GCM envelope of the `whsec_...` secret (see secret-box.ts). */
  secret_sealed: string;
  /** The secret a rotation replaced, still signed with until it expires. */
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
  status: ColumnType<WebhookStatus, WebhookStatus | undefined, WebhookStatus>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  /** The body sent: `{ type, timestamp, data }`. */
  payload: ColumnType<Record<string, unknown>, string, string>;
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>;
  /** Attempts of the current round (a manual redelivery starts a new one). */
  attempt_count: ColumnType<number, number | undefined, number>;
  /** Set while pending, null once succeeded or failed. */
  next_attempt_at: Date | null;
  last_attempt_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  at: Date;
  /** The receiver's HTTP status; null when none came (refused, timed out, unreachable). */
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

/** A tenant's own key for one provider, sealed (see services/credentials/provider-keys.ts). */
export interface ProviderKeysTable {
  provider: string;
  /** AES-256-GCM envelope of the key under its own data key. */
  secret_sealed: string;
  /** The data key, sealed under the key-encryption key derived from MASTER_KEY. */
  data_key_sealed: string;
  /** The key's last characters, to tell keys apart; empty for short keys. */
  hint: string;
  created_at: Timestamp;
  /** The actor, as `type:id` (`key:key_...`, `cli:alice`). */
  created_by: string | null;
  updated_at: Timestamp;
  updated_by: string | null;
}

/** An answer of the semantic cache (see services/cache/semantic-cache.ts). */
export interface SemanticCacheEntriesTable {
  id: string;
  /** The model the answer came from, after routing aliases. */
  model: string;
  embedding_model: string;
  dimensions: number;
  /** pgvector's text form, `[0.1,0.2,...]`, both ways. */
  embedding: string;
  /** SHA-256 of the request's fields other than the conversation: they must match exactly. */
  params_digest: string;
  /** SHA-256 of the text that was embedded: an exact repeat needs no embedding. */
  text_digest: string;
  /** The upstream's response body, as sent. */
  response: ColumnType<Record<string, unknown>, string, string>;
  /** What the upstream call used, in the domain's Usage form. */
  usage: ColumnType<Record<string, unknown>, string, string>;
  /** The response's size in bytes, for the cache's size. */
  bytes: number;
  created_at: Timestamp;
  expires_at: Date;
}

/** A stored Responses API response (see services/responses/store.ts). */
export interface ResponsesTable {
  id: string;
  /** The key that created it: the only one that may read, continue or delete it. */
  api_key_id: string;
  /** The response object as sent. */
  response: ColumnType<Record<string, unknown>, string, string>;
  /** Every input item the response answered, those of earlier turns first. */
  input_items: ColumnType<Record<string, unknown>[], string, string>;
  created_at: Timestamp;
}

/** A file uploaded through /v1/files; its content is in `file_chunks`. */
export interface FilesTable {
  id: string;
  filename: string;
  /** OpenAI's purpose, such as `batch`. */
  purpose: string;
  /** Its size; pg returns bigint as text. */
  bytes: ColumnType<string | number, number, number>;
  created_at: Timestamp;
}

/** One piece of a file's content, in order of `seq`. */
export interface FileChunksTable {
  file_id: string;
  seq: number;
  data: Uint8Array;
}

type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;
type NullableTime = ColumnType<Date | null, Date | null | undefined, Date | null>;

/** A Batch API batch; its lines are in `batch_lines`. */
export interface BatchesTable {
  id: string;
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: string;
  metadata: NullableJson<Record<string, string>>;
  /** The key that created it: its lines are admitted and accounted as that key's. */
  key_id: string;
  user_id: string | null;
  allowed_models: NullableJson<string[]>;
  total: number;
  /** Lines without a final state yet; 0: the batch is ready to be finalized. */
  remaining: number;
  /** Whether its lines were handed to the batch queue. */
  queued: ColumnType<boolean, boolean | undefined, boolean>;
  output_file_id: ColumnType<string | null, string | null | undefined, string | null>;
  error_file_id: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Date;
  expires_at: Date;
  in_progress_at: NullableTime;
  finalizing_at: NullableTime;
  completed_at: NullableTime;
  failed_at: NullableTime;
  expired_at: NullableTime;
  cancelling_at: NullableTime;
  cancelled_at: NullableTime;
}

/** One line of a batch's input file: `pending`, `running`, then `done`, `failed` or `cancelled`. */
export interface BatchLinesTable {
  batch_id: string;
  idx: number;
  custom_id: string | null;
  state: string;
  request: NullableJson<Record<string, unknown>>;
  response: NullableJson<Record<string, unknown>>;
  error: NullableJson<{ code: string; message: string }>;
  /** The usage record the answer made, kept so a re-claim writes the very same one. */
  usage_event: NullableJson<Record<string, unknown>>;
  attempts: ColumnType<number, number | undefined, number>;
  finished_at: NullableTime;
}

export interface TenantSchema {
  users: UsersTable;
  api_keys: ApiKeysTable;
  rate_limits: RateLimitsTable;
  quotas: QuotasTable;
  usage_records: UsageRecordsTable;
  cache_settings: CacheSettingsTable;
  audit_log: AuditLogTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  provider_keys: ProviderKeysTable;
  semantic_cache_entries: SemanticCacheEntriesTable;
  price_plans: PricePlansTable;
  credits: CreditsTable;
  invoices: InvoicesTable;
  invoice_lines: InvoiceLinesTable;
  responses: ResponsesTable;
  files: FilesTable;
  file_chunks: FileChunksTable;
  batches: BatchesTable;
  batch_lines: BatchLinesTable;
}
