/**
 * Where a tenant created without a server goes. default: the control plane's server, as
 * before; most-room: the configured server with the most room under its `max_tenants`.
 */
export const PLACEMENT_POLICIES = ['default', 'most-room'] as const;
export type PlacementPolicy = (typeof PLACEMENT_POLICIES)[number];

export function readPlacementPolicy(value: string | undefined, errors: string[]): PlacementPolicy {
  const policy = value || 'default';
  if (!(PLACEMENT_POLICIES as readonly string[]).includes(policy)) {
    errors.push(`TENANT_PLACEMENT must be one of ${PLACEMENT_POLICIES.join(', ')}, got '${value}'`);
    return 'default';
  }
  return policy as PlacementPolicy;
}
