import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { sessionCookie } from '../../plugins/session-auth.js';
import type { OidcLogin } from '../../services/oidc/oidc-login.js';
import { setSessionCookie, signInContext } from './session.js';

const Params = Type.Object({ tenant: Type.String({ minLength: 1, maxLength: 63 }) });

/**
 * /ui/api/oidc: the sign-in page's single sign-on. `login` sends the browser to the tenant's
 * provider; `callback` is where the provider sends it back, signed in, to /ui/.
 */
export const oidcRoutes: FastifyPluginAsyncTypebox<{ oidc: OidcLogin }> = async (app, { oidc }) => {
  app.get('/ui/api/oidc/config', { schema: { hide: true } }, async () => ({
    providers: oidc.tenants().map((tenant) => ({
      tenant,
      login_url: `/ui/api/oidc/${encodeURIComponent(tenant)}/login`,
    })),
  }));

  app.get(
    '/ui/api/oidc/:tenant/login',
    { schema: { hide: true, params: Params } },
    async (request, reply) => reply.redirect((await oidc.start(request.params.tenant)).href),
  );

  app.get(
    '/ui/api/oidc/:tenant/callback',
    { schema: { hide: true, params: Params } },
    async (request, reply) => {
      const query = new URLSearchParams(request.url.split('?')[1] ?? '');
      // As with a key: any session the browser held ends, the new one gets a new id.
      const { id } = await oidc.finish(
        request.params.tenant,
        query,
        signInContext(request, 'oidc'),
        sessionCookie(request),
      );
      setSessionCookie(request, reply, id);
      return reply.redirect('/ui/');
    },
  );
};
