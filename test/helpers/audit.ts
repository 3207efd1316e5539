import type { Services } from '../../src/composition/services.js';
import { auditEntryJson } from '../../src/domain/audit-entry.js';
import type { AuditQuery } from '../../src/services/audit/audit-log.js';

/** A tenant's (or, with null, the platform's) audit entries as the API shows them, newest first. */
export async function auditJson(
  services: Pick<Services, 'audit'>,
  tenant: string | null,
  query: AuditQuery = {},
) {
  return (await services.audit.list(tenant, query)).data.map(auditEntryJson);
}
