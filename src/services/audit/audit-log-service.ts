import type { Kysely } from 'kysely';
import type { ControlSchema } from '../../storage/control-schema.js';
import { AuditLogRepository } from '../../storage/repositories/audit-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { type AuditEntryPage, type AuditQuery, auditPage, verifyLog } from './audit-log.js';
import type { ChainVerification } from './chain.js';

export interface AuditLogServiceOptions {
  tenants: TenantService;
  control: Kysely<ControlSchema>;
}

/**
 * Reads the audit logs: a tenant's (by id or slug) or, for a null tenant, the platform's.
 * Entries are written by the ChangeRecorder, never here.
 */
export class AuditLogService {
  constructor(private readonly options: AuditLogServiceOptions) {}

  /**
   * One page, newest first. A tenant's log is read from its read replica where there is one,
   * so an entry written a moment ago may show up a moment later.
   */
  async list(tenantRef: string | null, query: AuditQuery = {}): Promise<AuditEntryPage> {
    return auditPage(await this.log(tenantRef, 'replica'), query);
  }

  /** Recomputes the whole chain, on the primary; reports the first entry that does not match. */
  async verify(tenantRef: string | null): Promise<ChainVerification> {
    return verifyLog(await this.log(tenantRef, 'primary'));
  }

  private async log(tenantRef: string | null, from: 'replica' | 'primary') {
    const { tenants, control } = this.options;
    if (tenantRef === null) return AuditLogRepository.platform(control);
    const tenant = await tenants.get(tenantRef);
    return AuditLogRepository.tenant(
      from === 'replica' ? tenants.readDatabase(tenant) : tenants.database(tenant),
    );
  }
}
