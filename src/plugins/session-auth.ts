import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import type { KeyPrincipal } from '../services/keys/key-service.js';
import type { ActiveSession, SessionService } from '../services/sessions/session-service.js';

/** The admin panel's session cookie: an opaque id, the session itself stays on the server. */
export const SESSION_COOKIE = 'llm_backend_session';

/** The header a cookie-authenticated state-changing call carries its session's token in. */
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin panel session the request was authenticated by, if any. */
    session: ActiveSession | null;
  }
}

/** Lets a request without an Authorization header authenticate with the session cookie. */
export interface SessionGate {
  /**
   * The session's principal, or null when the request has no session cookie (the key is
   * then asked for as usual). A cookie naming no live session is a 401 `session_expired`; a
   * state-changing call without the session's CSRF token a 403 `csrf_token_invalid`.
   */
  principalFor(request: FastifyRequest): Promise<KeyPrincipal | null>;
}

/** Cookies parsed on every request (only the session's is read), and `request.session`. */
export async function registerSessionCookies(app: FastifyInstance): Promise<void> {
  await app.register(cookie);
  app.decorateRequest('session', null);
}

/** The session id the request's cookie names, if any. */
export function sessionCookie(request: FastifyRequest): string | undefined {
  const value = request.cookies[SESSION_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}

export function sessionGate(sessions: SessionService): SessionGate {
  return {
    async principalFor(request) {
      const id = sessionCookie(request);
      if (id === undefined) return null;
      const session = await sessions.resume(id);
      if (session === null) throw new GatewayError('session_expired');
      // Checked before the body is read: a forged request changes nothing.
      if (!SAFE_METHODS.has(request.method)) {
        const token = request.headers[CSRF_HEADER];
        if (!sessions.csrfMatches(session, typeof token === 'string' ? token : undefined))
          throw new GatewayError('csrf_token_invalid');
      }
      request.session = session;
      return session.principal;
    },
  };
}

/**
 * The gate on the read calls of the routes `paths` starts (the data plane's model list):
 * every other call asks for a key as if there were no cookie, so a session never calls a
 * model or reads a key's stored prompts.
 */
export function readOnly(gate: SessionGate, paths: readonly string[]): SessionGate {
  return {
    principalFor: (request) => {
      const url = request.routeOptions.url ?? '';
      const open = SAFE_METHODS.has(request.method) && paths.some((path) => url.startsWith(path));
      return open ? gate.principalFor(request) : Promise.resolve(null);
    },
  };
}
