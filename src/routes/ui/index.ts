import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import type { SessionGate } from '../../plugins/session-auth.js';
import type { OidcLogin } from '../../services/oidc/oidc-login.js';
import type { SessionService } from '../../services/sessions/session-service.js';
import type { TenantService } from '../../services/tenancy/tenant-service.js';
import { oidcRoutes } from './oidc.js';
import { sessionRoutes } from './session.js';
import { panelHeaders, staticRoutes } from './static.js';

export interface UiDeps {
  /** The built web app. */
  dir: string;
  sessions: SessionService;
  gate: SessionGate;
  tenants: TenantService;
  /** Single sign-on, when any tenant has it. */
  oidc: OidcLogin | null;
}

/**
 * The admin panel: its files at /ui/ and the small API its sign-in page calls at /ui/api/.
 * Everything else the panel shows comes from /admin/v1 and /v1, with the session cookie.
 * In a scope of its own, so its strict headers apply to it alone.
 */
export async function uiRoutes(app: FastifyInstance, deps: UiDeps): Promise<void> {
  panelHeaders(app);
  await app.register(sessionRoutes, deps);
  if (deps.oidc === null)
    app.get('/ui/api/oidc/config', { schema: { hide: true } }, async () => ({ providers: [] }));
  else await app.register(oidcRoutes, { oidc: deps.oidc });
  // The API has no client-side routes: an unknown path there is not the app's page.
  app.all('/ui/api/*', { schema: { hide: true } }, async () => {
    throw new GatewayError('not_found');
  });
  await staticRoutes(app, { dir: deps.dir });
}
