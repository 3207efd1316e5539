import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../../errors/gateway-error.js';
import { authorize } from '../access/permissions.js';
import type { Authenticator } from '../keys/authenticator.js';
import type { InvalidationBus } from '../keys/invalidation.js';
import type { KeyPrincipal } from '../keys/key-service.js';
import type { SessionAudit, SignInContext } from './session-audit.js';
import { groupsOf, type SessionRecord, type SessionStore, type SessionSubject } from './store.js';

/** A session id: 256 random bits, base64url. Anything else is not looked up at all. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** What the service needs of the key authenticator: secrets at sign-in, stored hashes after. */
export interface SessionKeys extends Authenticator {
  resume(hash: string): Promise<KeyPrincipal>;
}

export interface SessionServiceOptions {
  store: SessionStore;
  keys: SessionKeys;
  /** The hash a secret is indexed under, and a fresh (uncached) look at a stored hash. */
  keyIndex: {
    indexHash(secret: string): Promise<string>;
    resolveHash(hash: string): Promise<KeyPrincipal>;
  };
  /** The principal of a tenant's user signed in by single sign-on (see services/oidc). */
  users?: { principal(tenantId: string, userId: string): Promise<KeyPrincipal> };
  bus: InvalidationBus;
  audit: SessionAudit;
  idleSeconds: number;
  maxAgeSeconds: number;
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number;
  onError?: (error: unknown) => void;
}

/** A live session, as a request meets it. */
export interface ActiveSession {
  idHash: string;
  record: SessionRecord;
  principal: KeyPrincipal;
}

/** Refusals that mean the session's subject is gone for good: its session ends with them. */
const ENDING = new Set(['invalid_api_key', 'tenant_disabled', 'user_disabled', 'tenant_not_found']);
const ends = (error: unknown) => error instanceof GatewayError && ENDING.has(error.code);

/**
 * The only tenant actions whose roles may open the admin panel: reading something of the
 * tenant beyond the caller's own keys and usage. A role with none of them (a member: its
 * calls, its own keys) signs in to nothing it could not do with its key alone.
 */
const PANEL_ACTIONS = [
  'users:read',
  'audit:read',
  'billing:read',
  'limits:read',
  'tenants:read',
] as const;

export function mayUsePanel(principal: KeyPrincipal): boolean {
  if (principal.kind === 'platform') return true;
  return PANEL_ACTIONS.some((action) => {
    try {
      authorize(principal, action);
      return true;
    } catch {
      return false;
    }
  });
}

const hashId = (id: string) => createHash('sha256').update(id).digest('hex');
const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * The admin panel's server-side sessions: opened by exchanging an API key (or by single
 * sign-on), checked again on every use, ended by sign-out, by idle or absolute expiry, and
 * on every instance when the key is revoked or the tenant disabled or deleted.
 */
export class SessionService {
  private readonly now: () => number;
  readonly idleSeconds: number;

  constructor(private readonly options: SessionServiceOptions) {
    this.now = options.now ?? Date.now;
    this.idleSeconds = options.idleSeconds;
    options.bus.subscribe((message) => {
      const group =
        'keyId' in message
          ? `key:${message.keyId}`
          : 'tenantId' in message
            ? `tenant:${message.tenantId}`
            : null;
      if (group !== null) void this.recheck(group).catch((error) => options.onError?.(error));
    });
  }

  /**
   * Exchanges an API key for a new session. `previous` (a cookie the browser sent) is ended
   * whoever it belonged to: a session id is never adopted, so a planted one is worthless.
   */
  async signInWithKey(
    secret: string,
    context: SignInContext,
    previous?: string,
  ): Promise<{ id: string; session: ActiveSession }> {
    const principal = await this.options.keys.authenticate(`Bearer ${secret}`, context.ip ?? '');
    if (!mayUsePanel(principal))
      throw new GatewayError('permission_denied', {
        message:
          "This API key's role may not use the admin panel; sign in with an owner, admin, viewer or billing key, or a platform admin key.",
      });
    const keyHash = await this.options.keyIndex.indexHash(secret);
    const subject: SessionSubject = {
      kind: 'key',
      keyId: principal.keyId,
      keyHash,
      tenantId: principal.kind === 'tenant' ? principal.tenantId : null,
    };
    return this.open(subject, principal, context, previous);
  }

  /** A new session for a tenant's user signed in by single sign-on. */
  async signInAsUser(
    tenantId: string,
    userId: string,
    context: SignInContext,
    previous?: string,
  ): Promise<{ id: string; session: ActiveSession }> {
    const subject: SessionSubject = { kind: 'user', tenantId, userId };
    return this.open(subject, await this.principalOf(subject), context, previous);
  }

  private async open(
    subject: SessionSubject,
    principal: KeyPrincipal,
    context: SignInContext,
    previous: string | undefined,
  ): Promise<{ id: string; session: ActiveSession }> {
    if (previous !== undefined) await this.endId(previous);
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const record: SessionRecord = {
      subject,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.options.maxAgeSeconds * 1000,
    };
    const idHash = hashId(id);
    await this.options.store.create(idHash, record, groupsOf(subject), this.ttl(record, now));
    await this.options.audit.record('session.sign_in', subject, idHash, context);
    return { id, session: { idHash, record, principal } };
  }

  /** The live session an id names, its use noted; null when there is none (any more). */
  async resume(id: string): Promise<ActiveSession | null> {
    if (!SESSION_ID.test(id)) return null;
    const idHash = hashId(id);
    const record = await this.options.store.get(idHash);
    if (record === null) return null;
    const now = this.now();
    if (this.expired(record, now)) {
      await this.end(idHash, record);
      return null;
    }
    let principal: KeyPrincipal;
    try {
      principal = await this.principalOf(record.subject);
    } catch (error) {
      if (!ends(error)) throw error;
      await this.end(idHash, record);
      return null;
    }
    await this.options.store.touch(idHash, now, this.ttl(record, now));
    return { idHash, record: { ...record, lastSeenAt: now }, principal };
  }

  /** Whether `token` is the session's CSRF token; compared in constant time. */
  csrfMatches(session: ActiveSession, token: string | undefined): boolean {
    if (token === undefined || token === '') return false;
    return timingSafeEqual(digest(token), digest(session.record.csrfToken));
  }

  async signOut(session: ActiveSession, context: SignInContext): Promise<void> {
    await this.end(session.idHash, session.record);
    await this.options.audit.record(
      'session.sign_out',
      session.record.subject,
      session.idHash,
      context,
    );
  }

  /** When the session ends unless it is used before. */
  expiresAt(record: SessionRecord): Date {
    return new Date(record.expiresAt);
  }

  private async principalOf(subject: SessionSubject): Promise<KeyPrincipal> {
    if (subject.kind === 'key') {
      const principal = await this.options.keys.resume(subject.keyHash);
      // The index maps a hash to one key for good; a mismatch means the store was tampered with.
      if (principal.keyId !== subject.keyId) throw new GatewayError('invalid_api_key');
      return principal;
    }
    const users = this.options.users;
    if (users === undefined) throw new GatewayError('invalid_api_key');
    return users.principal(subject.tenantId, subject.userId);
  }

  private expired(record: SessionRecord, now: number): boolean {
    return now >= record.expiresAt || now - record.lastSeenAt >= this.options.idleSeconds * 1000;
  }

  /** How long the store keeps it: until the first of its idle and absolute ends. */
  private ttl(record: SessionRecord, now: number): number {
    return Math.max(1, Math.min(this.options.idleSeconds * 1000, record.expiresAt - now));
  }

  private async endId(id: string): Promise<void> {
    if (!SESSION_ID.test(id)) return;
    const idHash = hashId(id);
    const record = await this.options.store.get(idHash);
    if (record !== null) await this.end(idHash, record);
  }

  private end(idHash: string, record: SessionRecord): Promise<void> {
    return this.options.store.delete(idHash, groupsOf(record.subject));
  }

  /**
   * A key or a tenant changed: each of its sessions is checked afresh (not from a cache) and
   * ended if its subject no longer holds. Every instance hears the change and checks; ending
   * twice is harmless. Ended here, a session stays ended if the tenant is enabled again.
   */
  private async recheck(group: string): Promise<void> {
    const { store, keyIndex } = this.options;
    for (const idHash of await store.members(group)) {
      const record = await store.get(idHash);
      if (record === null) {
        await store.delete(idHash, [group]);
        continue;
      }
      const { subject } = record;
      try {
        if (subject.kind === 'key') await keyIndex.resolveHash(subject.keyHash);
        else await this.principalOf(subject);
      } catch (error) {
        if (!ends(error)) throw error;
        await this.end(idHash, record);
      }
    }
  }
}
