import type { UsageEvent } from './usage-records.js';

/** An event as it travels through a queue: JSON, the time as an ISO string. */
export function encodeUsageEvent(event: UsageEvent): string {
  return JSON.stringify({ ...event, at: event.at.toISOString() });
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isNullable =
  <T>(test: (value: unknown) => value is T) =>
  (value: unknown): value is T | null =>
    value === null || test(value);

/**
 * Reads an event back; null when the text is not one (a foreign or damaged entry), which the
 * worker sets aside instead of retrying for ever.
 */
export function decodeUsageEvent(text: string): UsageEvent | null {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (raw === null || typeof raw !== 'object') return null;
  const usage = raw.usage as Record<string, unknown> | null | undefined;
  const at = isString(raw.at) ? new Date(raw.at) : null;
  const valid =
    at !== null &&
    !Number.isNaN(at.getTime()) &&
    [raw.id, raw.requestId, raw.tenantId, raw.keyId, raw.model, raw.provider].every(isString) &&
    isNullable(isString)(raw.userId) &&
    usage !== null &&
    typeof usage === 'object' &&
    [usage.promptTokens, usage.completionTokens, usage.cachedTokens, usage.totalTokens].every(
      isCount,
    ) &&
    typeof usage.estimated === 'boolean' &&
    isCount(raw.cost) &&
    isCount(raw.latencyMs) &&
    isNullable(isCount)(raw.timeToFirstTokenMs) &&
    isCount(raw.status) &&
    typeof raw.streamed === 'boolean' &&
    typeof raw.clientDisconnected === 'boolean' &&
    (raw.cacheHit === undefined || typeof raw.cacheHit === 'boolean') &&
    (raw.savedCost === undefined || isCount(raw.savedCost)) &&
    (raw.byok === undefined || typeof raw.byok === 'boolean') &&
    (raw.batch === undefined || typeof raw.batch === 'boolean');
  if (!valid) return null;
  // Events queued before the cache existed carry neither field.
  const cache = { cacheHit: raw.cacheHit ?? false, savedCost: raw.savedCost ?? 0 };
  return { ...raw, ...cache, at } as unknown as UsageEvent;
}
