import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

const NUL = '\u0000';

const join = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

/**
 * Where the first NUL character is in a parsed value (a string, or an object's key or value
 * at any depth), in OpenAI's `param` form (`members[0].name`); null when there is none.
 * Walks with its own stack: a deeply nested body must not overflow the call stack.
 */
export function findNul(value: unknown): string | null {
  const pending: [unknown, string][] = [[value, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [current, path] = next;
    if (typeof current === 'string') {
      if (current.includes(NUL)) return path;
    } else if (Array.isArray(current)) {
      for (const [index, item] of current.entries()) pending.push([item, join(path, index)]);
    } else if (current !== null && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        if (key.includes(NUL)) return join(path, key);
        pending.push([item, join(path, key)]);
      }
    }
  }
  return null;
}

function refuse(param: string): GatewayError {
  return new GatewayError('invalid_request', {
    message: `Invalid value for '${param}': it must not contain a NUL character (\\u0000).`,
    param,
  });
}

/**
 * Refuses a NUL character anywhere in a request's path parameters, query and body with a
 * 400 naming the field. PostgreSQL cannot store NUL in text or JSON and fails the query,
 * which would be a 500; tenant ids in the path are looked up as early as onRequest.
 *
 * For the admin API and the Files API, where such strings become names, ids and filters that
 * are stored or queried. Not for the rest of the data plane: a prompt is the client's own bytes and goes upstream
 * exactly as sent (NUL included), and nothing a client writes there is stored as text —
 * usage records name the model from the config, never the client's string.
 */
export function refuseNul(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const param = findNul(request.params) ?? findNul(request.query);
    if (param !== null) throw refuse(param);
  });
  // Before schema validation, so the answer names the NUL and not some rule it broke.
  app.addHook('preValidation', async (request) => {
    const param = findNul(request.body);
    if (param !== null) throw refuse(param);
  });
}
