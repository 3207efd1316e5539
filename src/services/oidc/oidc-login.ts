import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as client from 'openid-client';
import type { OidcTenantConfig } from '../../config/oidc.js';
import type { TenantRole } from '../../domain/roles.js';
import type { User } from '../../domain/user.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { SignInContext } from '../sessions/session-audit.js';
import type { ActiveSession, SessionService } from '../sessions/session-service.js';
import type { SessionStore } from '../sessions/store.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { UserService } from '../tenancy/user-service.js';

/** How long a sign-in may take at the provider before its state is forgotten. */
const PENDING_MS = 10 * 60_000;

interface Pending {
  tenant: string;
  verifier: string;
  nonce: string;
  /** The hash of the browser binding: only the browser that started may finish. */
  binding: string;
}

const digest = (value: string) => createHash('sha256').update(value).digest('base64url');

export interface OidcLoginOptions {
  providers: readonly OidcTenantConfig[];
  tenants: TenantService;
  users: UserService;
  sessions: SessionService;
  /** Where the state, nonce and PKCE verifier wait for the callback, on any instance. */
  pending: Pick<SessionStore, 'putPending' | 'takePending'>;
  /** Told why a callback failed; the browser only learns that it did. */
  onFailure?: (error: unknown) => void;
}

const pendingKey = (state: string) => `oidc:${digest(state)}`;

/**
 * Single sign-on to the admin panel with OpenID Connect, per tenant: the authorization code
 * flow with PKCE, the state and nonce kept on the server. The provider's email names a user
 * of the tenant (made with the mapped role when the config allows); the session is that
 * user's, with the user's role.
 */
export class OidcLogin {
  private readonly configurations = new Map<string, Promise<client.Configuration>>();

  constructor(private readonly options: OidcLoginOptions) {}

  /** The tenants with single sign-on, by slug. */
  tenants(): string[] {
    return this.options.providers.map((provider) => provider.tenant);
  }

  /**
   * Where to send the browser to sign in; its state waits here for the callback. `binding`
   * goes to the browser in a cookie: a callback link made in another browser (someone
   * signing a victim in to their own account) does not complete without it.
   */
  async start(tenant: string): Promise<{ url: URL; binding: string }> {
    const provider = this.provider(tenant);
    const configuration = await this.configuration(provider);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const binding = randomBytes(32).toString('base64url');
    const pending: Pending = { tenant, verifier, nonce, binding: digest(binding) };
    await this.options.pending.putPending(pendingKey(state), JSON.stringify(pending), PENDING_MS);
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: provider.redirectUri.href,
      scope: provider.scopes,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url, binding };
  }

  /** Completes a sign-in from the provider's redirect (`query`: its query string). */
  async finish(
    tenant: string,
    query: URLSearchParams,
    binding: string | undefined,
    context: SignInContext,
    previous?: string,
  ): Promise<{ id: string; session: ActiveSession }> {
    const provider = this.provider(tenant);
    const state = query.get('state') ?? '';
    const raw = state === '' ? null : await this.options.pending.takePending(pendingKey(state));
    const pending = raw === null ? null : (JSON.parse(raw) as Pending);
    if (pending === null || pending.tenant !== tenant || !sameBinding(pending, binding))
      throw new GatewayError('oidc_login_failed');
    try {
      // The URL the provider redirected to, as registered: not rebuilt from the Host header.
      const current = new URL(provider.redirectUri.href);
      current.search = query.toString();
      const tokens = await client.authorizationCodeGrant(
        await this.configuration(provider),
        current,
        { pkceCodeVerifier: pending.verifier, expectedState: state, expectedNonce: pending.nonce },
      );
      const claims = tokens.claims();
      if (claims === undefined) throw new Error('no ID token');
      const user = await this.userFor(provider, claims);
      const ref = await this.options.tenants.get(tenant);
      return await this.options.sessions.signInAsUser(ref.id, user.id, context, previous);
    } catch (error) {
      this.options.onFailure?.(error);
      throw new GatewayError('oidc_login_failed');
    }
  }

  private async userFor(provider: OidcTenantConfig, claims: client.IDToken): Promise<User> {
    const email = claims[provider.emailClaim];
    if (typeof email !== 'string' || email === '') throw new Error('no email claim');
    // An address the provider has not checked could be anyone's.
    if (claims.email_verified === false) throw new Error('email not verified');
    const { users } = this.options;
    const existing = (await users.list(provider.tenant)).find(
      (user) => user.email.toLowerCase() === email.toLowerCase(),
    );
    if (existing !== undefined) {
      if (existing.status === 'disabled') throw new Error('user disabled');
      return existing;
    }
    const role = mappedRole(provider, claims);
    if (!provider.createUsers || role === null) throw new Error('no user with this email');
    const name = typeof claims.name === 'string' && claims.name !== '' ? claims.name : email;
    return users.create(provider.tenant, { email, name, role }, { type: 'system', id: null });
  }

  private provider(tenant: string): OidcTenantConfig {
    const provider = this.options.providers.find((entry) => entry.tenant === tenant);
    if (provider === undefined) throw new GatewayError('oidc_provider_not_found');
    return provider;
  }

  /** The provider's metadata and keys, discovered once per process (again after a failure). */
  private configuration(provider: OidcTenantConfig): Promise<client.Configuration> {
    let found = this.configurations.get(provider.tenant);
    if (found === undefined) {
      found = client.discovery(
        provider.issuer,
        provider.clientId,
        provider.clientSecret ?? undefined,
        provider.clientSecret === null ? client.None() : undefined,
        // Config allows plain HTTP to localhost only.
        provider.issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {},
      );
      found.catch(() => this.configurations.delete(provider.tenant));
      this.configurations.set(provider.tenant, found);
    }
    return found;
  }
}

function sameBinding(pending: Pending, binding: string | undefined): boolean {
  if (binding === undefined || binding === '') return false;
  // Hashed again so both sides have one length, whatever the store held.
  const hash = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(hash(digest(binding)), hash(pending.binding));
}

/** The role the provider's claim maps to, if any: the first of its values the mapping names. */
function mappedRole(provider: OidcTenantConfig, claims: client.IDToken): TenantRole | null {
  if (provider.roleClaim === null) return null;
  const value = claims[provider.roleClaim];
  const values = Array.isArray(value) ? value : [value];
  for (const item of values)
    if (typeof item === 'string' && Object.hasOwn(provider.roleMapping, item))
      return provider.roleMapping[item] ?? null;
  return null;
}
