import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { SESSION_COOKIE, type SessionGate, sessionCookie } from '../../plugins/session-auth.js';
import type { SignInContext } from '../../services/sessions/session-audit.js';
import type { ActiveSession, SessionService } from '../../services/sessions/session-service.js';
import type { TenantService } from '../../services/tenancy/tenant-service.js';

export interface SessionRouteDeps {
  sessions: SessionService;
  gate: SessionGate;
  tenants: TenantService;
}

const SignIn = Type.Object(
  { api_key: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
);

/** The session as the web app reads it: who it is, its CSRF token and when it ends. */
export async function sessionJson(session: ActiveSession, tenants: TenantService, idle: number) {
  const { principal, record } = session;
  const who =
    principal.kind === 'platform'
      ? { kind: 'platform' as const }
      : {
          kind: 'tenant' as const,
          tenant_id: principal.tenantId,
          tenant_name: (await tenants.get(principal.tenantId)).name,
          role: principal.role,
          user_id: principal.userId,
        };
  return {
    principal: who,
    key_id: record.subject.kind === 'key' ? record.subject.keyId : null,
    csrf_token: record.csrfToken,
    expires_at: new Date(record.expiresAt).toISOString(),
    idle_timeout_seconds: idle,
  };
}

export function signInContext(
  request: FastifyRequest,
  method: SignInContext['method'],
): SignInContext {
  return {
    ip: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    requestId: request.id,
    method,
  };
}

/** Sets the cookie of a new session: script cannot read it, other sites cannot send it. */
export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, id: string): void {
  reply.setCookie(SESSION_COOKIE, id, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    // request.protocol believes X-Forwarded-Proto only from TRUST_PROXY's proxies.
    secure: request.protocol === 'https',
  });
}

/** /ui/api/session: sign in with an API key, read the session, sign out. */
export const sessionRoutes: FastifyPluginAsyncTypebox<SessionRouteDeps> = async (app, deps) => {
  const { sessions, gate, tenants } = deps;
  const schema = { hide: true };
  const current = async (request: FastifyRequest) => {
    await gate.principalFor(request);
    if (request.session === null) throw new GatewayError('session_expired');
    return request.session;
  };

  app.post('/ui/api/session', { schema: { ...schema, body: SignIn } }, async (request, reply) => {
    // Any session the browser holds ends here: the new one always gets a new id.
    const { id, session } = await sessions.signInWithKey(
      request.body.api_key,
      signInContext(request, 'api_key'),
      sessionCookie(request),
    );
    setSessionCookie(request, reply, id);
    return sessionJson(session, tenants, sessions.idleSeconds);
  });

  app.get('/ui/api/session', { schema }, async (request) =>
    sessionJson(await current(request), tenants, sessions.idleSeconds),
  );

  app.delete('/ui/api/session', { schema }, async (request, reply) => {
    const session = await current(request);
    await sessions.signOut(session, signInContext(request, undefined));
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });
};
