import { GatewayError } from '../../errors/gateway-error.js';
import { UserRepository } from '../../storage/repositories/users.js';
import { intersectModels } from '../access/model-access.js';
import { invalidKey } from '../keys/key-secrets.js';
import type { KeyPrincipal } from '../keys/key-service.js';
import type { TenantService } from '../tenancy/tenant-service.js';

/**
 * The key id a single sign-on session acts under: it names the user and matches no key, so
 * rules about "own keys" go by the user, and log lines and metrics still have a key id.
 */
export const ssoKeyId = (userId: string) => `sso:${userId}`;

/**
 * A tenant's user signed in by single sign-on, as a principal like a key's: the user's role
 * and models, checked afresh on each use (a disabled user or tenant ends the session).
 */
export class UserPrincipals {
  constructor(private readonly tenants: TenantService) {}

  async principal(tenantId: string, userId: string): Promise<KeyPrincipal> {
    const tenant = await this.tenants.get(tenantId).catch(() => {
      throw invalidKey();
    });
    if (tenant.status === 'disabled') throw new GatewayError('tenant_disabled');
    if (tenant.status !== 'active') throw invalidKey();
    const user = await new UserRepository(this.tenants.database(tenant)).find(userId);
    if (user === null) throw invalidKey();
    if (user.status === 'disabled') throw new GatewayError('user_disabled');
    return {
      kind: 'tenant',
      tenantId: tenant.id,
      tenantSlug: tenant.slug,
      keyId: ssoKeyId(user.id),
      role: user.role,
      userId: user.id,
      allowedModels: intersectModels(tenant.allowedModels, user.allowedModels),
      validUntil: null,
    };
  }
}
