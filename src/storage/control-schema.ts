import type { ColumnType, Generated } from 'kysely';
import type { TenantStatus } from '../domain/tenant.js';

export type { TenantStatus };

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  status: ColumnType<TenantStatus, TenantStatus | undefined, TenantStatus>;
  database_name: string;
  /** The server's name in `database_servers`; null: the control plane's own server. */
  server: string | null;
  /** The models the tenant may use; null: every configured model. */
  allowed_models: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
  delete_after: Date | null;
}

export interface ApiKeyIndexTable {
  key_hash: string;
  key_id: string;
  tenant_id: string | null;
  created_at: Timestamp;
}

export interface PlatformApiKeysTable {
  id: string;
  name: string;
  display_prefix: string;
  key_hash: string;
  previous_key_hash: string | null;
  previous_valid_until: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_at: Timestamp;
}

export interface AuditLogTable {
  seq: Generated<string>;
  id: string;
  at: Timestamp;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  before: unknown;
  after: unknown;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  previous_hash: string;
  hash: string;
}

/** The last number given in each invoice series. */
export interface InvoiceCountersTable {
  series: string;
  last: ColumnType<string, number, number>;
}

/** Which document each invoice number went to. */
export interface InvoiceNumbersTable {
  series: string;
  number: ColumnType<string, number, number>;
  /** What the number is for: `<tenant id>/<period>` for an invoice, a credit note's id. */
  ref: string;
  tenant_id: string;
  document_id: string;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ControlSchema {
  invoice_counters: InvoiceCountersTable;
  invoice_numbers: InvoiceNumbersTable;
  tenants: TenantsTable;
  api_key_index: ApiKeyIndexTable;
  platform_api_keys: PlatformApiKeysTable;
  platform_audit_log: AuditLogTable;
}
