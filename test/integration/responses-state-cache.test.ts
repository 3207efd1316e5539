import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { ConversationCache } from '../../src/services/responses/conversation-cache.js';
import { conversationKey } from '../../src/services/responses/redis-conversation-cache.js';
import {
  ConversationStateCache,
  type StateLookup,
} from '../../src/services/responses/state-cache.js';
import { ResponseStore } from '../../src/services/responses/store.js';
import { type ConversationCaches, openConversationCache } from '../helpers/cache-stores.js';
import type { BackendKind } from '../helpers/databases.js';
import { type StoreKind, shiftableClock } from '../helpers/limit-stores.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const DAY_MS = 86_400_000;
const CASES: [BackendKind, StoreKind][] = [
  ['postgres', 'redis'],
  ['pglite', 'memory'],
];

/**
 * Stored responses with the conversation cache in front of the database: a hit needs no row,
 * an entry answers only the key, tenant and retention the row would, DELETE drops both, and
 * an entry never outlives its response's retention. On Redis and in process alike.
 */
describe.each(CASES)(
  'the conversation cache over %s, %s',
  { timeout: 60_000 },
  (database, kind) => {
    let services: TestServices;
    let caches: ConversationCaches;
    const clock = shiftableClock();
    let tenants = 0;

    beforeAll(async () => {
      services = await servicesOn(database);
      caches = openConversationCache(kind, { clock: clock.now });
    }, 90_000);
    afterAll(async () => {
      await caches?.close();
      await services?.close();
    }, 60_000);

    /** A tenant of its own per test, and a store with the cache in front of its database. */
    async function storeFor(options: { retentionDays?: number | null; ttlMs?: number } = {}) {
      tenants += 1;
      const tenantId = `state-cache-${kind}-${Date.now()}-${tenants}`;
      const db = services.tenants.database(
        await services.tenants.create({ slug: tenantId, name: tenantId }),
      );
      const lookups: StateLookup[] = [];
      const retentionDays = options.retentionDays === undefined ? 30 : options.retentionDays;
      const make = (cache: ConversationCache, retentionMs: number | null) =>
        new ResponseStore({
          database: async () => db,
          retentionMs,
          now: clock.now,
          cache: new ConversationStateCache({
            store: cache,
            ttlMs: options.ttlMs ?? 3_600_000,
            timeoutMs: 1000,
            onLookup: (_tenant, outcome) => lookups.push(outcome),
            onError: () => {},
            now: clock.now,
          }),
        });
      const store = make(caches.cache, retentionDays === null ? null : retentionDays * DAY_MS);
      const dropRow = (id: string) => db.deleteFrom('responses').where('id', '=', id).execute();
      return { store, make, lookups, dropRow, tenantId };
    }

    const turn = (id: string, said: string) => ({
      id,
      response: { id, object: 'response', output: [{ type: 'message', said }] },
      inputItems: [{ type: 'message', role: 'user', content: 'Hi' }],
    });

    async function missing(call: Promise<unknown>): Promise<string | null> {
      const outcome = await call.then(
        () => null,
        (error: unknown) => error,
      );
      return outcome instanceof GatewayError ? outcome.code : null;
    }

    it('continues from the cache without the row, and counts the hit', async () => {
      const { store, lookups, dropRow, tenantId } = await storeFor();
      const owner = { tenantId, keyId: 'key_a' };
      await store.put(owner, turn('resp_1', 'Hello'));
      // The row goes behind the cache's back: only the cache can still answer.
      await dropRow('resp_1');
      const state = await store.conversation(owner, 'resp_1');
      expect(state.output).toEqual([{ type: 'message', said: 'Hello' }]);
      expect(state.inputItems).toEqual(turn('resp_1', '').inputItems);
      expect(lookups).toEqual(['hit']);
      expect(await missing(store.get(owner, 'resp_1'))).toBe('response_not_found');
    });

    it("answers another key's or tenant's id as not found though it is cached", async () => {
      const { store, lookups, tenantId } = await storeFor();
      const owner = { tenantId, keyId: 'key_a' };
      await store.put(owner, turn('resp_1', 'Mine'));
      expect(await missing(store.conversation({ tenantId, keyId: 'key_b' }, 'resp_1'))).toBe(
        'response_not_found',
      );
      const other = await storeFor();
      expect(
        await missing(
          other.store.conversation({ tenantId: other.tenantId, keyId: 'key_a' }, 'resp_1'),
        ),
      ).toBe('response_not_found');
      // Another key cannot drop the owner's entry either.
      expect(await missing(store.delete({ tenantId, keyId: 'key_b' }, 'resp_1'))).toBe(
        'response_not_found',
      );
      expect(lookups).toEqual(['miss']);
      expect((await store.conversation(owner, 'resp_1')).output).toHaveLength(1);
      expect(lookups).toEqual(['miss', 'hit']);
    });

    it('drops the row and the entry on delete, and an entry whose row is gone', async () => {
      const { store, dropRow, tenantId } = await storeFor();
      const owner = { tenantId, keyId: 'key_a' };
      await store.put(owner, turn('resp_1', 'One'));
      await store.put(owner, turn('resp_2', 'Two'));
      await store.delete(owner, 'resp_1');
      expect(await caches.cache.get(tenantId, 'resp_1')).toBeNull();
      expect(await missing(store.conversation(owner, 'resp_1'))).toBe('response_not_found');
      await dropRow('resp_2');
      await store.delete(owner, 'resp_2');
      expect(await missing(store.conversation(owner, 'resp_2'))).toBe('response_not_found');
      expect(await missing(store.delete(owner, 'resp_2'))).toBe('response_not_found');
    });

    it("refuses an entry past its response's retention, as the database does", async () => {
      const { store, dropRow, tenantId } = await storeFor({ retentionDays: 1, ttlMs: 30 * DAY_MS });
      const owner = { tenantId, keyId: 'key_a' };
      await store.put(owner, turn('resp_old', 'Old'));
      await dropRow('resp_old');
      clock.skip(DAY_MS / 2);
      expect((await store.conversation(owner, 'resp_old')).output).toHaveLength(1);
      clock.skip(DAY_MS);
      expect(await missing(store.conversation(owner, 'resp_old'))).toBe('response_not_found');
    });

    it('never gives an entry a lifetime past the retention', async () => {
      const { store, make, tenantId } = await storeFor({ retentionDays: 1, ttlMs: 30 * DAY_MS });
      const owner = { tenantId, keyId: 'key_a' };
      await store.put(owner, turn('resp_1', 'Brief'));
      if (caches.redis !== null) {
        const ttl = await caches.redis.pttl(conversationKey(tenantId, 'resp_1'));
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(DAY_MS);
      } else {
        // A store without retention reads the entry as long as it lives: not past one day.
        const unbounded = make(caches.cache, null);
        clock.skip(DAY_MS - 60_000);
        expect((await unbounded.conversation(owner, 'resp_1')).output).toHaveLength(1);
        clock.skip(120_000);
        expect(await caches.cache.get(tenantId, 'resp_1')).toBeNull();
      }
    });

    it('reads the database when the cache is off or fails, and stores the same', async () => {
      const { tenantId, make, lookups } = await storeFor();
      const failing: ConversationCache = {
        get: async () => {
          throw new Error('cache down');
        },
        put: async () => {
          throw new Error('cache down');
        },
        delete: async () => {
          throw new Error('cache down');
        },
        close: async () => {},
      };
      const store = make(failing, 30 * DAY_MS);
      const owner = { tenantId, keyId: 'key_a' };
      await store.put(owner, turn('resp_1', 'Kept'));
      expect((await store.conversation(owner, 'resp_1')).output).toHaveLength(1);
      expect(lookups).toEqual(['error']);
      // A delete the cache cannot confirm fails, and a retry once it answers finishes it.
      expect(await missing(store.delete(owner, 'resp_1'))).toBe('service_unavailable');
      const plain = new ResponseStore({
        database: async () => services.tenants.database(await services.tenants.get(tenantId)),
        retentionMs: null,
      });
      expect(await missing(plain.conversation(owner, 'resp_1'))).toBe('response_not_found');
    });
  },
);
