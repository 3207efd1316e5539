import { type Kysely, sql } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../../config/database-servers.js';
import type { ControlSchema } from '../control-schema.js';

/**
 * How many tenants each database server holds, by server name (`default` for the control
 * plane's). Every registered tenant counts, those being provisioned or deleted too: their
 * databases are there until purged.
 */
export async function tenantsPerServer(db: Kysely<ControlSchema>): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('tenants')
    .select(['server', sql<string>`count(*)`.as('tenants')])
    .groupBy('server')
    .execute();
  return new Map(rows.map((row) => [row.server ?? DEFAULT_DATABASE_SERVER, Number(row.tenants)]));
}
