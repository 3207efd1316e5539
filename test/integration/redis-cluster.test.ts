import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySlot } from '../../src/storage/redis-slot.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { clusterPerFile } from '../helpers/redis-cluster.js';
import type { TestServices } from '../helpers/tenant-services.js';

/**
 * A gateway whose REDIS_URL names a real Redis Cluster (six nodes, three masters): limits,
 * usage through the stream to the workers, invalidation; then one master killed with
 * requests in flight, its replica taking over.
 */
const cluster = clusterPerFile();
const upstream = new FakeUpstream();
let gateway: TestGateway;
let tenantId: string;
let usageStream: string;
const run = randomBytes(4).toString('hex');
let sent = 0;

const body = {
  model: 'gpt-test',
  messages: [{ role: 'user' as const, content: 'Hello there' }],
  max_tokens: 20,
};

/** One request through the SDK: its id and its status (0: no answer at all). */
async function call(): Promise<{ id: string; status: number }> {
  const id = `req-cluster-${run}-${++sent}`;
  try {
    await gateway.client.chat.completions.create(body, { headers: { 'x-request-id': id } });
    return { id, status: 200 };
  } catch (error) {
    const status = (error as { status?: number }).status;
    return { id, status: typeof status === 'number' ? status : 0 };
  }
}

async function setRpm(limit: number): Promise<void> {
  for (const rule of await gateway.services.limitRules.list('test'))
    await gateway.services.limitRules.delete('test', rule.id);
  const response = await gateway.fetch('/admin/v1/tenants/test/limits', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ scope: 'tenant', requests_per_minute: limit }),
  });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
}

/** The usage rows of these requests, by request id, once the workers wrote one for each. */
async function usageCounts(ids: string[]): Promise<Map<string, number>> {
  return eventually(async () => {
    const tenant = await gateway.services.tenants.get('test');
    const rows = await gateway.services.tenants
      .database(tenant)
      .selectFrom('usage_records')
      .select('request_id')
      .where('request_id', 'in', ids)
      .execute();
    const counts = new Map<string, number>();
    for (const row of rows)
      counts.set(String(row.request_id), (counts.get(String(row.request_id)) ?? 0) + 1);
    expect(counts.size).toBe(ids.length);
    return counts;
  }, 60_000);
}

/** Redis failures the gateway counted (commands, blocking reads), from its metrics. */
async function redisErrors(): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(/^llm_backend_redis_errors_total\{[^}]*\} (\d+)$/gm))
    total += Number(match[1]);
  return total;
}

/** `count` requests at once: how many were admitted, and the admitted ones' ids. */
async function burst(count: number) {
  const results = await Promise.all(Array.from({ length: count }, call));
  const admitted = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 429);
  return { admitted: admitted.map((r) => r.id), refused: refused.length };
}

beforeAll(async () => {
  await upstream.start();
  upstream.always(async (_req, res) => json(res, 200, chatCompletion('Hello from the cluster')));
  usageStream = `llmb:test:usage:${run}`;
  gateway = await startGateway(upstreamConfig(upstream.url), {
    REDIS_URL: cluster().url,
    // Calls waiting out the failover must not count as Redis being away for good.
    REDIS_TIMEOUT_MS: '30000',
    USAGE_STREAM: usageStream,
  });
  await (gateway.services as TestServices).root.startBackground();
  tenantId = (await gateway.services.tenants.get('test')).id;
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  await upstream.stop();
}, 60_000);

describe('a gateway on a Redis Cluster', () => {
  it('runs on a cluster that refuses a call whose keys span slots, as the store suites rely on', async () => {
    const redis = (gateway.services as TestServices).root.redis;
    expect(redis?.cluster).toBe(true);
    const spanning = redis?.command.multi().set('{a}:x', '1').set('{b}:x', '1').exec();
    await expect(spanning).rejects.toThrow(/CROSSSLOT|same slot/);
    await expect(redis?.command.eval('return 1', 2, '{a}:x', '{b}:x')).rejects.toThrow(/CROSSSLOT/);
  });

  it('places keys in the slots the cluster does, so a publish waits for the right replicas', async () => {
    const redis = (gateway.services as TestServices).root.redis;
    for (const key of [usageStream, `llmb:{${tenantId}}:rpm`, 'é{x}', `plain-${run}`])
      expect(keySlot(key)).toBe(await redis?.command.cluster('KEYSLOT', key));
  });

  it('admits exactly the limit under concurrent requests, and the workers record every answer', async () => {
    await setRpm(6);
    const { admitted, refused } = await burst(15);
    expect(admitted).toHaveLength(6);
    expect(refused).toBe(9);
    const counts = await usageCounts(admitted);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });

  // A master acknowledges a write before its replica has it: without the publish waiting for
  // the replica (WAIT), the events of the last answers before the kill were lost with it.
  it('survives the loss of a master: the fault hits requests in flight, no usage is lost, limits stay exact', async () => {
    await setRpm(1_000_000_000);
    // The master of the usage stream: every answer's usage event goes there, and the workers
    // wait on it for the next ones.
    const master = await cluster().masterOf(usageStream);
    // The gateway knows that master's replica, so each publish waits until the replica holds
    // the events before their answers go.
    const redis = (gateway.services as TestServices).root.redis;
    await eventually(() => expect(redis?.replicasOf(usageStream)).toBe(1), 30_000);
    const errorsBefore = await redisErrors();
    // Requests keep coming, a few at a time, from before the kill until the cluster healed.
    let going = true;
    const results: { id: string; status: number }[] = [];
    const traffic = Array.from({ length: 4 }, async () => {
      while (going) results.push(await call());
    });
    await eventually(
      () => expect(results.filter((r) => r.status === 200).length).toBeGreaterThan(20),
      30_000,
    );
    await cluster().kill(master);
    const atKill = results.length;
    await cluster().healed(master);
    // A replica serves the stream's slot now.
    expect(await cluster().masterOf(usageStream)).not.toBe(master);
    // And some more once the replica serves the slots.
    await eventually(() => expect(results.length).toBeGreaterThan(atKill + 20), 60_000);
    going = false;
    await Promise.all(traffic);

    // The kill hit work in flight: commands failed on the connection that died.
    const errorsAfter = await redisErrors();
    expect(errorsAfter).toBeGreaterThan(errorsBefore);
    const answered = results.filter((r) => r.status === 200).map((r) => r.id);
    // Every request that got an answer has exactly one usage record once the workers drain.
    const counts = await usageCounts(answered);
    expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);

    // The gateway's own connection serves the tenant's slot again before limits are judged:
    // a limit decided without Redis would be let through (fail open).
    await eventually(
      async () =>
        expect(await redis?.command.set(`{${tenantId}}:probe`, '1', 'PX', 1000)).toBe('OK'),
      60_000,
    );
    await setRpm(7);
    const fresh = await burst(20);
    expect(fresh.admitted).toHaveLength(7);
    expect(fresh.refused).toBe(13);
    const freshCounts = await usageCounts(fresh.admitted);
    expect([...freshCounts.values()].every((n) => n === 1)).toBe(true);
  }, 240_000);
});
