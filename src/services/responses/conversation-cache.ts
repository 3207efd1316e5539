/** One cached conversation state and the key it belongs to. */
export interface CachedConversation {
  /** The API key that created the response: the only one that may read or drop it. */
  owner: string;
  /** Opaque text: what it means is the response store's business. */
  value: string;
}

/**
 * Where hot conversations live beside the tenants' databases, so that `previous_response_id`
 * is answered without a database read: one entry per stored response, under its tenant and
 * id, with a lifetime each. Implementations: in Redis (shared by every instance), and in
 * this process (one instance), a bounded LRU.
 */
export interface ConversationCache {
  get(tenantId: string, responseId: string): Promise<CachedConversation | null>;
  /** Stores (or replaces) an entry for `ttlMs`; nothing for a lifetime of 0 or less. */
  put(
    tenantId: string,
    responseId: string,
    entry: CachedConversation,
    ttlMs: number,
  ): Promise<void>;
  /** Drops the entry if `owner` owns it; true when it did. */
  delete(tenantId: string, responseId: string, owner: string): Promise<boolean>;
  close(): Promise<void>;
}

interface Entry extends CachedConversation {
  size: number;
  expiresAt: number;
}

/** What the in-process cache holds at most, in bytes of entries' text. */
export const MEMORY_CONVERSATION_BYTES = 64 * 1024 * 1024;

/**
 * The embedded default: least recently used entries go first once the byte budget is full,
 * expired ones as they are met (on reads, and a few from the oldest on each store).
 */
export class MemoryConversationCache implements ConversationCache {
  /** In order of last use: the first is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly budgetBytes = MEMORY_CONVERSATION_BYTES,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(tenantId: string, responseId: string): Promise<CachedConversation | null> {
    const key = keyOf(tenantId, responseId);
    const entry = this.entries.get(key);
    if (entry === undefined) return null;
    this.entries.delete(key);
    if (entry.expiresAt <= this.clock()) {
      this.bytes -= entry.size;
      return null;
    }
    this.entries.set(key, entry);
    return { owner: entry.owner, value: entry.value };
  }

  async put(
    tenantId: string,
    responseId: string,
    entry: CachedConversation,
    ttlMs: number,
  ): Promise<void> {
    const key = keyOf(tenantId, responseId);
    this.drop(key);
    const size = Buffer.byteLength(entry.value, 'utf8');
    if (ttlMs <= 0 || size > this.budgetBytes) return;
    const now = this.clock();
    let looked = 0;
    for (const [other, held] of this.entries) {
      if (++looked > 16) break;
      if (held.expiresAt <= now) this.drop(other);
    }
    for (const oldest of this.entries.keys()) {
      if (this.bytes + size <= this.budgetBytes) break;
      this.drop(oldest);
    }
    this.entries.set(key, { ...entry, size, expiresAt: now + ttlMs });
    this.bytes += size;
  }

  async delete(tenantId: string, responseId: string, owner: string): Promise<boolean> {
    const key = keyOf(tenantId, responseId);
    const entry = this.entries.get(key);
    if (entry === undefined || entry.owner !== owner) return false;
    this.drop(key);
    return entry.expiresAt > this.clock();
  }

  async close(): Promise<void> {
    this.entries.clear();
    this.bytes = 0;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes -= entry.size;
  }
}

const keyOf = (tenantId: string, responseId: string) => `${tenantId}\u0000${responseId}`;
