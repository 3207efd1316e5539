import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { sessionCookie } from '../../plugins/session-auth.js';
import type { OidcLogin } from '../../services/oidc/oidc-login.js';
import { setSessionCookie, signInContext } from './session.js';

const Params = Type.Object({ tenant: Type.String({ minLength: 1, maxLength: 63 }) });

/**
 * Ties a sign-in to the browser that started it. Lax, not Strict: the provider sends the
 * browser back with a cross-site redirect, on which a Strict cookie would not be sent.
 */
const BINDING_COOKIE = 'llm_backend_oidc';
const BINDING_PATH = '/ui/api/oidc/';

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
    async (request, reply) => {
      const { url, binding } = await oidc.start(request.params.tenant);
      reply.setCookie(BINDING_COOKIE, binding, {
        httpOnly: true,
        sameSite: 'lax',
        path: BINDING_PATH,
        secure: request.protocol === 'https',
        maxAge: 600,
      });
      return reply.redirect(url.href);
    },
  );

  app.get(
    '/ui/api/oidc/:tenant/callback',
    { schema: { hide: true, params: Params } },
    async (request, reply) => {
      const query = new URLSearchParams(request.url.split('?')[1] ?? '');
      // As with a key: any session the browser held ends, the new one gets a new id.
      const binding = request.cookies[BINDING_COOKIE];
      reply.clearCookie(BINDING_COOKIE, { path: BINDING_PATH });
      const { id } = await oidc.finish(
        request.params.tenant,
        query,
        binding,
        signInContext(request, 'oidc'),
        sessionCookie(request),
      );
      setSessionCookie(request, reply, id);
      return reply.redirect('/ui/');
    },
  );
};
