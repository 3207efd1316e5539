import { Type } from '@sinclair/typebox';
import type { TenantRole } from '../domain/roles.js';
import { checked } from './checked.js';
import type { Env } from './env.js';

const ROLES = ['owner', 'admin', 'member', 'viewer', 'billing'] as const;
const Role = Type.Union(ROLES.map((role) => Type.Literal(role)));

/** One tenant's single sign-on: the file's `oidc` is a list of these. */
const OidcEntry = Type.Object(
  {
    /** The tenant's slug. */
    tenant: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{1,62}$' }),
    issuer: Type.String({ minLength: 1 }),
    client_id: Type.String({ minLength: 1 }),
    /** The variable holding the client secret (a secret stays out of the file). */
    client_secret_env: Type.Optional(Type.String({ minLength: 1 })),
    /** Where the provider sends the browser back: `<public URL>/ui/api/oidc/<tenant>/callback`. */
    redirect_uri: Type.String({ minLength: 1 }),
    scopes: Type.String({ default: 'openid email profile' }),
    email_claim: Type.String({ minLength: 1, default: 'email' }),
    /** A claim whose value (or one of whose values) names a role, by `role_mapping`. */
    role_claim: Type.Optional(Type.String({ minLength: 1 })),
    role_mapping: Type.Record(Type.String(), Role, { default: {} }),
    /** Makes a user of the mapped role on first sign-in; otherwise only existing users sign in. */
    create_users: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export interface OidcTenantConfig {
  tenant: string;
  issuer: URL;
  clientId: string;
  clientSecret: string | null;
  redirectUri: URL;
  scopes: string;
  emailClaim: string;
  roleClaim: string | null;
  roleMapping: Readonly<Record<string, TenantRole>>;
  createUsers: boolean;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function url(value: string, path: string, errors: string[]): URL | null {
  try {
    const parsed = new URL(value);
    // Plain HTTP only to this machine: tokens and codes must not cross a network in clear.
    if (
      parsed.protocol === 'https:' ||
      (parsed.protocol === 'http:' && LOOPBACK.has(parsed.hostname))
    )
      return parsed;
    errors.push(`CONFIG_FILE ${path}: must be an https URL (http only for localhost)`);
  } catch {
    errors.push(`CONFIG_FILE ${path}: not a URL`);
  }
  return null;
}

/** The file's `oidc` list: single sign-on to the admin panel, per tenant. */
export function readOidc(raw: unknown, env: Env, errors: string[]): OidcTenantConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    errors.push('CONFIG_FILE /oidc: must be a list of tenants');
    return [];
  }
  const result: OidcTenantConfig[] = [];
  const seen = new Set<string>();
  raw.forEach((item: unknown, index) => {
    const path = `/oidc/${index}`;
    const entry = checked(OidcEntry, item, path, errors);
    if (entry === null) return;
    if (seen.has(entry.tenant)) errors.push(`CONFIG_FILE ${path}/tenant: '${entry.tenant}' twice`);
    seen.add(entry.tenant);
    let clientSecret: string | null = null;
    if (entry.client_secret_env !== undefined) {
      clientSecret = env[entry.client_secret_env] || null;
      if (clientSecret === null)
        errors.push(`CONFIG_FILE ${path}/client_secret_env: ${entry.client_secret_env} is not set`);
    }
    const issuer = url(entry.issuer, `${path}/issuer`, errors);
    const redirectUri = url(entry.redirect_uri, `${path}/redirect_uri`, errors);
    if (issuer === null || redirectUri === null) return;
    result.push({
      tenant: entry.tenant,
      issuer,
      clientId: entry.client_id,
      clientSecret,
      redirectUri,
      scopes: entry.scopes,
      emailClaim: entry.email_claim,
      roleClaim: entry.role_claim ?? null,
      roleMapping: Object.freeze({ ...entry.role_mapping }),
      createUsers: entry.create_users,
    });
  });
  return result;
}
