import type { Kysely } from 'kysely';
import type { Actor } from '../../domain/audit-entry.js';
import type { Tenant } from '../../domain/tenant.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import type { DatabaseServer } from '../../storage/database-server.js';
import type { TenantConnections } from '../../storage/tenant-connections.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { TenantFence } from './tenant-fence.js';

/** What moving a tenant needs and is asked; see tenant-move.ts. */

export interface MoveDeps {
  control: Kysely<ControlSchema>;
  connections: TenantConnections;
  changes: ChangeRecorder;
  fence: TenantFence;
}

export interface MoveOptions {
  /** Drops the old database once the tenant is served from the new server. */
  dropSource?: boolean;
  /** A line per step, for the command line. */
  onProgress?: (line: string) => void;
}

/** One move in progress. */
export interface Move {
  deps: MoveDeps;
  tenant: Tenant;
  from: string | null;
  to: string | null;
  source: DatabaseServer;
  target: DatabaseServer;
  actor: Actor;
  options: MoveOptions;
  progress: (line: string) => void;
}
