/** The shapes the admin API answers with (see docs/admin-api.md), as far as the panel reads them. */

export type TenantRole = 'owner' | 'admin' | 'member' | 'viewer' | 'billing';
export const TENANT_ROLES: TenantRole[] = ['owner', 'admin', 'member', 'viewer', 'billing'];

export type Principal =
  | { kind: 'platform' }
  | {
      kind: 'tenant';
      tenant_id: string;
      tenant_name: string;
      role: TenantRole;
      user_id: string | null;
    };

export interface Session {
  principal: Principal;
  /** Null for a single sign-on session (it acts as the user, with no key). */
  key_id: string | null;
  csrf_token: string;
  expires_at: string;
  idle_timeout_seconds: number;
}

export interface List<T> {
  object: 'list';
  data: T[];
  first_id?: string | null;
  last_id?: string | null;
  has_more?: boolean;
}

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'disabled' | 'deleting';
  server: string | null;
  allowed_models: string[] | null;
  created_at: string;
  delete_after: string | null;
}

export interface User {
  id: string;
  email: string;
  name: string;
  role: TenantRole;
  status: 'active' | 'disabled';
  allowed_models: string[] | null;
  created_at: string;
}

export interface ApiKey {
  id: string;
  name: string;
  display_prefix: string;
  role: TenantRole;
  user_id: string | null;
  allowed_models: string[] | null;
  expires_at: string | null;
  revoked_at: string | null;
  previous_valid_until: string | null;
  created_at: string;
  secret?: string;
}

/** A platform admin key (`/admin/v1/platform-keys`). */
export interface PlatformKey {
  id: string;
  name: string;
  display_prefix: string;
  expires_at: string | null;
  revoked_at: string | null;
  previous_valid_until: string | null;
  last_used_at: string | null;
  created_at: string;
  secret?: string;
}

/** The answer of the audit chain check. */
export type ChainCheck =
  | { ok: true; entries: number }
  | { ok: false; index: number; reason: 'previous_hash_mismatch' | 'hash_mismatch' };

export interface Model {
  id: string;
  owned_by?: string;
}

export interface Deployment {
  model: string;
  deployment: string;
  provider: string;
  circuit_state: 'closed' | 'open' | 'half_open';
  in_flight: number;
  latency_ms_p50: number | null;
  region: string | null;
  weight: number;
  priority: number;
}

export type Scope = 'tenant' | 'user' | 'key';

export interface RateLimit {
  id: string;
  scope: Scope;
  subject_id: string | null;
  model: string | null;
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
  max_concurrent_requests: number | null;
}

export interface Quota {
  id: string;
  scope: Scope;
  subject_id: string | null;
  metric: 'tokens' | 'cost' | 'charge';
  period: 'day' | 'month' | 'total';
  amount: number;
  thresholds: number[];
  used: number;
  period_start: string | null;
}

export interface UsageMeasures {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cost: number | null;
  errors: number;
  streamed: number;
  cache_hits: number;
  saved_tokens: number;
  saved_cost: number | null;
}

export interface UsageRow extends UsageMeasures {
  day?: string;
  model?: string;
  user_id?: string | null;
  key_id?: string;
}

export interface UsageReport {
  from: string;
  to: string;
  group_by: string[];
  data: UsageRow[];
  totals: UsageMeasures;
}

export interface AuditEntry {
  id: string;
  at: string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  request_id: string | null;
}

export interface Webhook {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  status: 'active' | 'disabled';
  created_at: string;
  secret?: string;
}

export interface Delivery {
  id: string;
  event_type: string;
  status: string;
  attempt_count: number;
  last_attempt_at: string | null;
  created_at: string;
}

export interface ProviderKey {
  provider: string;
  hint: string;
  updated_at: string;
  updated_by: string;
}

export interface CacheSettings {
  enabled: boolean | null;
  ttl_seconds: number | null;
  max_entry_bytes: number | null;
  budget_bytes: number | null;
  allow_nondeterministic: boolean | null;
  semantic: unknown;
  updated_at: string | null;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  budget_bytes: number;
  hits: number;
  misses: number;
}

export interface Invoice {
  object: 'invoice' | 'credit_note';
  id: string;
  number: string | null;
  period: string;
  status: 'draft' | 'finalized' | 'paid' | 'void';
  currency: string;
  total: string;
  amount_due: string;
}
