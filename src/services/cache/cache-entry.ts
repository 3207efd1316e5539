import type { JsonObject } from '../../providers/types.js';
import type { Usage } from '../inference/usage.js';

/** A stored answer: the whole JSON answer, its usage, and who served it at what cost. */
export interface CacheEntry {
  body: JsonObject;
  usage: Usage;
  model: string;
  provider: string;
  deployment: string;
  /** What the upstream call cost, at the serving deployment's prices: what a hit saves. */
  cost: number;
}

const VERSION = 1;

export function encodeEntry(entry: CacheEntry): string {
  return JSON.stringify({ v: VERSION, ...entry });
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isObject = (value: unknown): value is JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Reads an entry back; null for anything else (damaged, foreign, an older format): a miss. */
export function decodeEntry(text: string): CacheEntry | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(raw) || raw.v !== VERSION || !isObject(raw.body) || !isObject(raw.usage))
    return null;
  const usage = raw.usage;
  const valid =
    [usage.promptTokens, usage.completionTokens, usage.cachedTokens, usage.totalTokens].every(
      isCount,
    ) &&
    typeof usage.estimated === 'boolean' &&
    [raw.model, raw.provider, raw.deployment].every((field) => typeof field === 'string') &&
    isCount(raw.cost);
  if (!valid) return null;
  return {
    body: raw.body,
    usage: usage as unknown as Usage,
    model: raw.model as string,
    provider: raw.provider as string,
    deployment: raw.deployment as string,
    cost: raw.cost as number,
  };
}
