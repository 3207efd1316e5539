import { GatewayError } from '../../errors/gateway-error.js';
import { EVENT_TYPES } from '../events/catalogue.js';

/** `quota.exhausted`, or `quota.*` for every type under `quota.`. */
export const EVENT_TYPE_PATTERN = /^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$/;
export const MAX_EVENT_TYPES = 50;
const MAX_EVENT_TYPE_LENGTH = 100;

export function matchesEventType(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type,
  );
}

const KNOWN = Object.keys(EVENT_TYPES);

const invalid = (message: string) =>
  new GatewayError('invalid_request', { message, param: 'event_types' });

/**
 * The catalogue's type (or prefix of types) a malformed entry was most likely meant as:
 * `API_KEY.Revoked` or `quota-exhausted ` read as written by hand. Null when none is close.
 */
function meant(type: string): string | null {
  const candidate = type
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
  if (!EVENT_TYPE_PATTERN.test(candidate)) return null;
  const known = candidate.endsWith('.*')
    ? KNOWN.some((name) => name.startsWith(candidate.slice(0, -1)))
    : KNOWN.includes(candidate);
  return known ? candidate : null;
}

/**
 * A webhook's `event_types`, without repeats. Types are open-ended (a webhook may ask for one
 * the gateway does not raise yet), so the catalogue decides nothing here; it only names the
 * type a malformed entry was probably meant as.
 */
export function checkEventTypes(types: readonly string[]): string[] {
  if (types.length === 0 || types.length > MAX_EVENT_TYPES)
    throw invalid(`Give 1 to ${MAX_EVENT_TYPES} event types.`);
  for (const type of types) {
    if (type.length <= MAX_EVENT_TYPE_LENGTH && EVENT_TYPE_PATTERN.test(type)) continue;
    const suggestion = meant(type);
    throw invalid(
      `'${type}' is not an event type: use one like 'quota.exhausted', or 'quota.*' for every type under 'quota.'.${suggestion === null ? '' : ` Did you mean '${suggestion}'?`}`,
    );
  }
  return [...new Set(types)];
}
