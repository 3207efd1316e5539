import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Action, authorize } from '../services/access/permissions.js';
import type { Authenticator } from '../services/keys/authenticator.js';
import { bindToLog, callerBindings } from './request-context.js';
import type { SessionGate } from './session-auth.js';
import { spanOf } from './tracing.js';

/**
 * Every route of the scope this is registered in needs a valid key, allowed `actionFor` when
 * given (routes that check per tenant leave it out). Runs before the body is parsed, so an
 * unauthenticated caller cannot make the gateway read a large body. With `sessions`, a
 * request without an Authorization header may authenticate by the admin panel's session
 * cookie instead, as the session's key; a request with one never looks at cookies.
 */
export function requireKey(
  app: FastifyInstance,
  authenticator: Authenticator,
  actionFor?: (method: string) => Action,
  credential: (request: FastifyRequest) => string | undefined = bearerHeader,
  sessions?: SessionGate,
): void {
  app.addHook('onRequest', async (request) => {
    const span = spanOf(request).child('auth');
    try {
      const principal =
        (request.headers.authorization === undefined
          ? await sessions?.principalFor(request)
          : null) ?? (await authenticator.authenticate(credential(request), request.ip));
      if (actionFor) authorize(principal, actionFor(request.method));
      request.principal = principal;
      // Every later line of this request's log names its caller.
      bindToLog(request, callerBindings(principal));
      if (span.enabled)
        span.set({
          'llm_backend.tenant_id': principal.kind === 'tenant' ? principal.tenantId : null,
          'llm_backend.key_id': principal.keyId,
        });
    } catch (error) {
      span.fail(error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The Authorization header: `Bearer <key>`, as OpenAI's API takes it. */
export const bearerHeader = (request: FastifyRequest) => request.headers.authorization;

/**
 * Anthropic's API takes the key in `x-api-key`, which its SDKs send; `Authorization: Bearer`
 * works as well (the SDKs' `authToken`). Given as a Bearer header, checked the same way.
 */
export function apiKeyOrBearer(request: FastifyRequest): string | undefined {
  const key = request.headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return `Bearer ${key}`;
  return request.headers.authorization;
}
