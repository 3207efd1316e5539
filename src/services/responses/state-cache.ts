import type { JsonObject } from '../../providers/types.js';
import { withDeadline } from '../../utils/deadline.js';
import type { ConversationCache } from './conversation-cache.js';

/** What continuing a response needs: the items it answered and its output. */
export interface ConversationState {
  inputItems: JsonObject[];
  output: JsonObject[];
}

/** Who asks: a response is the tenant's, and within it the creating key's. */
export interface ResponseOwner {
  tenantId: string;
  keyId: string;
}

/** A cached entry: the owner and creation time the database row has, checked the same way. */
interface Entry extends ConversationState {
  tenantId: string;
  keyId: string;
  id: string;
  /** ms since the epoch, the row's `created_at`. */
  createdAt: number;
}

export type StateLookup = 'hit' | 'miss' | 'error';

/** Larger conversations (images as data URLs, long documents) are read from the database. */
export const MAX_CACHED_STATE_BYTES = 1024 * 1024;

export interface StateCacheOptions {
  store: ConversationCache;
  /** An entry's longest lifetime (RESPONSES_CACHE_TTL_SECONDS); the retention may cut it. */
  ttlMs: number;
  /** The longest a cache call may take before the request goes on without it. */
  timeoutMs: number;
  onLookup: (tenantId: string, outcome: StateLookup) => void;
  /** A cache call that failed or stalled: logged; the database answered instead. */
  onError: (error: unknown) => void;
  now?: () => number;
}

/**
 * Stored responses' conversation state in the conversation cache, so that
 * `previous_response_id` usually needs no database read. The database stays the truth: an
 * entry is only ever written for a row just stored, is checked against the asking key,
 * tenant and retention as the row would be, and a cache that fails or stalls is a miss.
 */
export class ConversationStateCache {
  constructor(private readonly options: StateCacheOptions) {}

  /** The state if cached for this owner and not past `notBefore` (ms); null: ask the database. */
  async read(owner: ResponseOwner, id: string, notBefore: number | null) {
    const { store, timeoutMs, onLookup } = this.options;
    let found: Awaited<ReturnType<ConversationCache['get']>>;
    try {
      found = await withDeadline(store.get(owner.tenantId, id), timeoutMs);
    } catch (error) {
      this.options.onError(error);
      onLookup(owner.tenantId, 'error');
      return null;
    }
    const entry = found === null || found.owner !== owner.keyId ? null : decode(found.value);
    const valid =
      entry !== null &&
      entry.id === id &&
      entry.tenantId === owner.tenantId &&
      entry.keyId === owner.keyId &&
      (notBefore === null || entry.createdAt >= notBefore);
    onLookup(owner.tenantId, valid ? 'hit' : 'miss');
    return valid ? { inputItems: entry.inputItems, output: entry.output } : null;
  }

  /**
   * Caches a response just stored, for at most the TTL and never past `expiresAt` (its
   * retention). Never fails: a response not cached is read from the database.
   */
  async remember(
    owner: ResponseOwner,
    id: string,
    state: ConversationState,
    createdAt: number,
    expiresAt: number | null,
  ): Promise<void> {
    const { store, timeoutMs } = this.options;
    const ttlMs = Math.min(
      this.options.ttlMs,
      (expiresAt ?? Number.POSITIVE_INFINITY) - this.now(),
    );
    if (ttlMs <= 0) return;
    const entry: Entry = { ...owner, id, createdAt, ...state };
    const value = JSON.stringify(entry);
    if (Buffer.byteLength(value, 'utf8') > MAX_CACHED_STATE_BYTES) return;
    try {
      await withDeadline(
        store.put(owner.tenantId, id, { owner: owner.keyId, value }, ttlMs),
        timeoutMs,
      );
    } catch (error) {
      this.options.onError(error);
    }
  }

  /** Drops the owner's entry; true when there was one. Throws when the cache cannot say. */
  async forget(owner: ResponseOwner, id: string): Promise<boolean> {
    const { store, timeoutMs } = this.options;
    return withDeadline(store.delete(owner.tenantId, id, owner.keyId), timeoutMs);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/** Null for an entry that is not ours (damaged, or written by hand): the database decides. */
function decode(value: string): Entry | null {
  try {
    const entry = JSON.parse(value) as Partial<Entry> | null;
    if (
      typeof entry?.tenantId !== 'string' ||
      typeof entry.keyId !== 'string' ||
      typeof entry.id !== 'string' ||
      typeof entry.createdAt !== 'number' ||
      !Array.isArray(entry.inputItems) ||
      !Array.isArray(entry.output)
    )
      return null;
    return entry as Entry;
  } catch {
    return null;
  }
}
