/**
 * Whom a session acts as: an API key exchanged for it at sign-in (kept as the key's stored
 * hash, never the secret, so each use checks the key again), or a tenant's user signed in by
 * single sign-on.
 */
export type SessionSubject =
  | { kind: 'key'; keyId: string; keyHash: string; tenantId: string | null }
  | { kind: 'user'; tenantId: string; userId: string };

/** One admin panel session as stored. Times are milliseconds since the epoch. */
export interface SessionRecord {
  subject: SessionSubject;
  /** Sent back by the browser in `x-csrf-token` on every state-changing call. */
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  /** The absolute end, however much the session is used. */
  expiresAt: number;
}

/**
 * Where sessions live: Redis when there is one (every instance sees every session), this
 * process otherwise. Keyed by the hash of the session id, never the id itself. `groups` name
 * the sessions to find again when a key or a tenant changes (`key:<id>`, `tenant:<id>`).
 * Lifetimes given here only reclaim space: the service decides, by its own clock, whether a
 * session is still alive.
 */
export interface SessionStore {
  create(idHash: string, record: SessionRecord, groups: string[], ttlMs: number): Promise<void>;
  get(idHash: string): Promise<SessionRecord | null>;
  /** Notes a use, and keeps the session for `ttlMs` more; nothing when it is gone already. */
  touch(idHash: string, lastSeenAt: number, ttlMs: number): Promise<void>;
  delete(idHash: string, groups: string[]): Promise<void>;
  /** The hashes of the sessions listed under a group (some may have ended since). */
  members(group: string): Promise<string[]>;
  /** A sign-in in progress (single sign-on's state, nonce and PKCE verifier), for `ttlMs`. */
  putPending(key: string, value: string, ttlMs: number): Promise<void>;
  /** The pending sign-in, removed as it is read: each one completes at most once. */
  takePending(key: string): Promise<string | null>;
}

/** The groups a session is listed under. */
export function groupsOf(subject: SessionSubject): string[] {
  if (subject.kind === 'user') return [`user:${subject.userId}`, `tenant:${subject.tenantId}`];
  return subject.tenantId === null
    ? [`key:${subject.keyId}`]
    : [`key:${subject.keyId}`, `tenant:${subject.tenantId}`];
}

interface Held {
  record: SessionRecord;
  until: number;
}

/** One process: the embedded default. Expired entries are dropped as new ones arrive. */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Held>();
  private readonly groups = new Map<string, Set<string>>();
  private readonly pending = new Map<string, { value: string; until: number }>();

  async create(idHash: string, record: SessionRecord, groups: string[], ttlMs: number) {
    this.sweep();
    this.sessions.set(idHash, { record: { ...record }, until: Date.now() + ttlMs });
    for (const group of groups) {
      const members = this.groups.get(group) ?? new Set<string>();
      members.add(idHash);
      this.groups.set(group, members);
    }
  }

  async get(idHash: string): Promise<SessionRecord | null> {
    const held = this.sessions.get(idHash);
    if (held === undefined || held.until <= Date.now()) return null;
    return { ...held.record };
  }

  async touch(idHash: string, lastSeenAt: number, ttlMs: number): Promise<void> {
    const held = this.sessions.get(idHash);
    if (held === undefined) return;
    held.record.lastSeenAt = lastSeenAt;
    held.until = Date.now() + ttlMs;
  }

  async delete(idHash: string, groups: string[]): Promise<void> {
    this.sessions.delete(idHash);
    for (const group of groups) this.forget(group, idHash);
  }

  async members(group: string): Promise<string[]> {
    return [...(this.groups.get(group) ?? [])];
  }

  async putPending(key: string, value: string, ttlMs: number): Promise<void> {
    const now = Date.now();
    for (const [other, held] of this.pending) if (held.until <= now) this.pending.delete(other);
    this.pending.set(key, { value, until: now + ttlMs });
  }

  async takePending(key: string): Promise<string | null> {
    const held = this.pending.get(key);
    this.pending.delete(key);
    return held === undefined || held.until <= Date.now() ? null : held.value;
  }

  private forget(group: string, idHash: string): void {
    const members = this.groups.get(group);
    members?.delete(idHash);
    if (members?.size === 0) this.groups.delete(group);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [idHash, held] of this.sessions) {
      if (held.until > now) continue;
      this.sessions.delete(idHash);
      for (const group of groupsOf(held.record.subject)) this.forget(group, idHash);
    }
  }
}
