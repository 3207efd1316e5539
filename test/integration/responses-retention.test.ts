import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { ResponseStore } from '../../src/services/responses/store.js';
import { BACKENDS } from '../helpers/databases.js';
import { shiftableClock } from '../helpers/limit-stores.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const DAY_MS = 86_400_000;

/**
 * Stored responses past their retention: they read as not found, and go when their key next
 * stores one, the other keys' responses untouched. On PostgreSQL and on PGlite.
 */
describe.each(BACKENDS)('stored responses retention on %s', (kind) => {
  let services: TestServices;
  let tenants = 0;

  beforeAll(async () => {
    services = await servicesOn(kind);
  }, 90_000);
  afterAll(() => services?.close(), 60_000);

  /** A tenant of its own per test, so no test sees another's responses. */
  async function storeFor(retentionDays: number | null) {
    tenants += 1;
    const slug = `responses-${tenants}`;
    const db = services.tenants.database(await services.tenants.create({ slug, name: slug }));
    const clock = shiftableClock();
    const store = new ResponseStore({
      database: async () => db,
      retentionMs: retentionDays === null ? null : retentionDays * DAY_MS,
      now: clock.now,
    });
    const count = async (keyId: string) =>
      (await db.selectFrom('responses').select('id').where('api_key_id', '=', keyId).execute())
        .length;
    return { store, clock, count, tenantId: slug };
  }

  const item = (id: string) => ({ id, response: { id, object: 'response' }, inputItems: [] });

  async function missing(call: Promise<unknown>): Promise<string | null> {
    const outcome = await call.then(
      () => null,
      (error: unknown) => error,
    );
    return outcome instanceof GatewayError ? outcome.code : null;
  }

  it('reads an expired response as not found, and removes it when its key stores again', async () => {
    const { store, clock, count, tenantId } = await storeFor(30);
    const mine = { tenantId, keyId: 'key_a' };
    const other = { tenantId, keyId: 'key_b' };
    await store.put(mine, item('resp_old'));
    await store.put(other, item('resp_other'));
    clock.skip(29 * DAY_MS);
    expect((await store.get(mine, 'resp_old')).id).toBe('resp_old');
    clock.skip(2 * DAY_MS);
    expect(await missing(store.get(mine, 'resp_old'))).toBe('response_not_found');
    expect(await count('key_a')).toBe(1);
    await store.put(mine, item('resp_new'));
    expect(await count('key_a')).toBe(1);
    expect((await store.get(mine, 'resp_new')).id).toBe('resp_new');
    // Another key's responses go when that key stores, not before.
    expect(await count('key_b')).toBe(1);
  });

  it('keeps responses until deleted when retention is off', async () => {
    const { store, clock, tenantId } = await storeFor(null);
    const owner = { tenantId, keyId: 'key_a' };
    await store.put(owner, item('resp_kept'));
    clock.skip(3650 * DAY_MS);
    await store.put(owner, item('resp_later'));
    expect((await store.get(owner, 'resp_kept')).id).toBe('resp_kept');
    await store.delete(owner, 'resp_kept');
    expect(await missing(store.get(owner, 'resp_kept'))).toBe('response_not_found');
    expect(await missing(store.delete(owner, 'resp_kept'))).toBe('response_not_found');
  });
});
