import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryResponseStore } from '../../src/services/cache/memory-store.js';
import { auditJson } from '../helpers/audit.js';
import { BACKENDS } from '../helpers/databases.js';
import { eventually } from '../helpers/gateway.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const NONE = {
  enabled: null,
  ttlSeconds: null,
  maxEntryBytes: null,
  budgetBytes: null,
  allowNondeterministic: null,
};

describe.each(BACKENDS)('cache settings on %s', (kind) => {
  let services: TestServices;
  const store = new MemoryResponseStore();

  beforeAll(async () => {
    services = await servicesOn(kind, { responses: store });
    await services.tenants.create({ slug: 'acme', name: 'Acme' });
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it('keeps the settings in the tenant database, audited, and refuses bad ones', async () => {
    const { cacheSettings } = services;
    expect(await cacheSettings.get('acme')).toEqual({ ...NONE, semantic: null, updatedAt: null });
    const set = await cacheSettings.set('acme', {
      ...NONE,
      enabled: true,
      budgetBytes: 5_000_000_000,
      allowNondeterministic: false,
    });
    expect(set).toMatchObject({ enabled: true, budgetBytes: 5_000_000_000, ttlSeconds: null });
    expect(await cacheSettings.get('acme')).toEqual(set);
    for (const bad of [{ ttlSeconds: 0 }, { maxEntryBytes: 1e9 }, { budgetBytes: 0.5 }])
      await expect(cacheSettings.set('acme', { ...NONE, ...bad })).rejects.toMatchObject({
        code: 'invalid_request',
      });
    expect(await cacheSettings.get('acme')).toEqual(set);
    const entries = await auditJson(services, 'acme', { action: 'cache_settings.update' });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ before: null, after: { enabled: true } });
    const raised = await eventually(async () => {
      const events = await services.events.recent(50);
      const found = events.find((event) => event.type === 'cache.settings_updated');
      expect(found).toBeDefined();
      return found;
    });
    expect(raised?.data).toMatchObject({ enabled: true, budget_bytes: 5_000_000_000 });
  });

  it("keeps the semantic cache's settings with them, checked, in their wire form", async () => {
    const { cacheSettings } = services;
    await services.tenants.create({ slug: `sem-${kind}`, name: 'Semantic' });
    const semantic = { enabled: true, threshold: 0.9, embedding_model: 'mock-embedding' };
    const set = await cacheSettings.set(`sem-${kind}`, { ...NONE, semantic });
    expect(set.semantic).toEqual({
      enabled: true,
      threshold: 0.9,
      embeddingModel: 'mock-embedding',
    });
    expect(await cacheSettings.get(`sem-${kind}`)).toEqual(set);
    for (const [bad, param] of [
      [{ threshold: -0.1 }, 'semantic.threshold'],
      [{ embedding_model: 'mock-chat' }, 'semantic.embedding_model'],
      [{ enabled: true }, 'semantic.embedding_model'],
      [[], 'semantic'],
    ] as const)
      await expect(
        cacheSettings.set(`sem-${kind}`, { ...NONE, semantic: bad }),
      ).rejects.toMatchObject({ code: 'invalid_request', param });
    expect(await cacheSettings.get(`sem-${kind}`)).toEqual(set);
    const tenant = await services.tenants.get(`sem-${kind}`);
    const raised = await eventually(async () => {
      const events = await services.events.recent(50);
      const found = events.find(
        (event) => event.type === 'cache.settings_updated' && event.tenantId === tenant.id,
      );
      expect(found).toBeDefined();
      return found;
    });
    expect(raised?.data).toMatchObject({ semantic });
  });

  it('purges what the store holds for the tenant, audited', async () => {
    const tenant = await services.tenants.get('acme');
    await store.put(tenant.id, 'k', 'value', { ttlMs: 60_000, budgetBytes: 100 });
    expect(await services.cacheSettings.stats('acme')).toMatchObject({
      entries: 1,
      bytes: 5,
      semantic: { entries: 0, bytes: 0 },
    });
    expect(await services.cacheSettings.purge('acme')).toEqual({
      entries: 1,
      bytes: 5,
      semanticEntries: 0,
    });
    expect(await services.cacheSettings.stats('acme')).toMatchObject({ entries: 0 });
    const [entry] = await auditJson(services, 'acme', { action: 'cache.purge' });
    expect(entry).toMatchObject({
      target_type: 'cache',
      before: { entries: 1, bytes: 5, semantic_entries: 0 },
    });
  });
});
