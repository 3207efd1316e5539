import { GatewayError } from '../../errors/gateway-error.js';
import { UpstreamError } from '../../providers/errors.js';

/**
 * Statuses whose meaning belongs to the client (its request was wrong, or it must slow
 * down). Other upstream statuses (401/403 for our own provider key, 404 for our upstream
 * model name, 5xx) are the operator's problem and become a 502 that reveals nothing.
 */
const PASS_THROUGH = new Set([400, 409, 413, 422, 429]);

function upstreamErrorObject(
  body: unknown,
): { message: string; type: string; param: string | null; code: string | null } | null {
  const error = (body as { error?: unknown } | null)?.error;
  if (error === null || typeof error !== 'object') return null;
  const { message, type, param, code } = error as Record<string, unknown>;
  if (typeof message !== 'string') return null;
  return {
    message,
    type: typeof type === 'string' ? type : 'invalid_request_error',
    param: typeof param === 'string' ? param : null,
    code: typeof code === 'string' ? code : null,
  };
}

/** What the client sees for a failed upstream call. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (!(error instanceof UpstreamError))
    return new GatewayError('internal_error', { cause: error });
  const { failure } = error;
  switch (failure.kind) {
    case 'timeout':
      return new GatewayError('upstream_timeout', { cause: error });
    case 'unreachable':
      return new GatewayError('upstream_unreachable', { cause: error });
    case 'protocol':
      return new GatewayError('upstream_error', { cause: error });
    case 'http': {
      if (!PASS_THROUGH.has(failure.status))
        return new GatewayError('upstream_error', { cause: error });
      // retry-after tells a rate-limited client when to come back; on other statuses it
      // would describe the upstream, not the client's request.
      const headers: Record<string, string> =
        failure.status === 429 && failure.retryAfter !== null
          ? { 'retry-after': failure.retryAfter }
          : {};
      const passed = upstreamErrorObject(failure.body);
      if (failure.status === 429) {
        return new GatewayError('upstream_rate_limited', {
          headers,
          cause: error,
          ...(passed && { message: passed.message, type: passed.type, wireCode: passed.code }),
        });
      }
      return new GatewayError('invalid_request', {
        status: failure.status,
        headers,
        cause: error,
        ...(passed && {
          message: passed.message,
          type: passed.type,
          param: passed.param,
          wireCode: passed.code,
        }),
      });
    }
  }
}
