import type { ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokensToReserve } from '../../src/services/limits/reservation.js';
import { openRedis } from '../../src/storage/redis.js';
import { sharedBody } from '../helpers/dedup.js';
import {
  chatCompletion,
  FakeUpstream,
  json,
  newGate,
  type RecordedRequest,
  sleep,
} from '../helpers/fake-upstream.js';
import { eventually, upstreamConfig } from '../helpers/gateway.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';
import { TOPOLOGY_REDIS_URL, Topology } from '../helpers/topology.js';
import { metricOf, send, steadyLoad, Tally, untilRefused } from '../helpers/topology-traffic.js';
import { expectExactlyOnce } from '../helpers/topology-usage.js';

/**
 * Three gateways and two usage workers, each a process of its own, behind a round-robin
 * load balancer, sharing one PostgreSQL and one Redis (TOPOLOGY_REDIS_URL, standalone by
 * default). One gateway is killed with SIGKILL in the middle of bursts and steady load, and
 * started again; limits, budgets, usage, deduplication and revocation hold across it.
 */
const RPM = 30;
const MAX_TOKENS = 5;
const budgetBody = {
  model: 'gpt-test',
  messages: [{ role: 'user' as const, content: 'budget' }],
  max_tokens: MAX_TOKENS,
};
const body = (content: string) => ({
  model: 'gpt-test',
  messages: [{ role: 'user' as const, content }],
  max_tokens: MAX_TOKENS,
});
/** $0.001 per token in and out (prices per million): a request's cost is its tokens / 1000. */
const config = (upstreamUrl: string) => {
  const base = upstreamConfig(upstreamUrl);
  return {
    ...base,
    models: base.models.map((model) =>
      model.name === 'gpt-test' ? { ...model, pricing: { input: 1000, output: 1000 } } : model,
    ),
  };
};

const contentOf = (req: RecordedRequest) =>
  ((req.body?.messages as { content: string }[] | undefined)?.[0]?.content ?? '').split(' ')[0];

describe('three gateways and two workers behind a load balancer, one gateway killed', () => {
  const upstream = new FakeUpstream();
  const gates = { rpm: newGate(), budget: newGate(), dedup: newGate() };
  let services: TestServices;
  let topology: Topology;
  /** What the gateway reserves for a budget request; the upstream reports exactly that. */
  let reserved: { promptTokens: number; completionTokens: number };

  const answer = (res: ServerResponse, content: string) =>
    json(
      res,
      200,
      chatCompletion(content, {
        usage: {
          prompt_tokens: reserved.promptTokens,
          completion_tokens: MAX_TOKENS,
          total_tokens: reserved.promptTokens + MAX_TOKENS,
        },
      }),
    );
  const upstreamCalls = (kind: string) => upstream.requests.filter((r) => contentOf(r) === kind);

  beforeAll(async () => {
    await upstream.start();
    reserved = await tokensToReserve('chat', budgetBody, 1024);
    upstream.always(async (req, res) => {
      const kind = contentOf(req);
      if (kind === 'rpm' || kind === 'budget' || kind === 'dedup') await gates[kind].opened;
      // Steady load takes a moment upstream, so a kill finds some of it under way.
      else await sleep(30);
      answer(res, `answer ${kind}`);
    });
    services = await servicesOn('postgres');
    topology = new Topology({
      databaseUrl: services.backend.url ?? '',
      redisUrl: TOPOLOGY_REDIS_URL,
      config: config(upstream.url),
      gateways: 3,
      workers: 2,
      // A busy machine must not turn a slow Redis answer into a decision without it, nor a
      // leader's late lease renewal into a takeover (a second upstream call).
      env: { REDIS_TIMEOUT_MS: '30000', USAGE_COMMIT_TIMEOUT_MS: '30000', DEDUP_LEASE_MS: '30000' },
    });
    await topology.start();
  }, 240_000);

  afterAll(async () => {
    for (const gate of Object.values(gates)) gate.open();
    await topology?.stop();
    await services?.close();
    await upstream.stop();
  }, 60_000);

  /** A tenant of the test's own with an owner key, and a client through the balancer. */
  async function tenant(slug: string) {
    const made = await services.tenants.create({ slug, name: slug });
    const { key, secret } = await services.keys.create(slug, { name: slug, role: 'owner' });
    const client = (baseUrl: string) =>
      new OpenAI({ apiKey: secret, baseURL: `${baseUrl}/v1`, maxRetries: 0 });
    return { id: made.id, slug, keyId: key.id, client, lb: client(topology.balancer.url) };
  }

  it('keeps rate limits exact, budgets within their bound and usage exactly once across kill -9', async () => {
    const rpm = await tenant('topo-rpm');
    await services.limitRules.set(rpm.slug, { scope: 'tenant', requestsPerMinute: RPM });
    const budget = await tenant('topo-budget');
    const cost = (reserved.promptTokens + reserved.completionTokens) / 1000;
    // Room for 10 requests and a half; the bound says the spend never passes the amount.
    const amount = cost * 10.5;
    await services.quotas.set(budget.slug, {
      scope: 'tenant',
      metric: 'cost',
      period: 'month',
      amount,
    });
    const steady = await tenant('topo-load');
    const load = steadyLoad(steady.lb, 4, (n) => body(`load ${n}`));

    // Bursts held upstream, spread over the three gateways by the balancer.
    const rpmTally = new Tally();
    const budgetTally = new Tally();
    for (let i = 0; i < 15; i++) rpmTally.add(send(rpm.lb, body(`rpm ${i}`)));
    for (let i = 0; i < 40; i++) budgetTally.add(send(budget.lb, budgetBody));
    await eventually(() => {
      expect(upstreamCalls('rpm')).toHaveLength(15);
      expect(upstreamCalls('budget').length + budgetTally.count('refused')).toBe(40);
    }, 60_000);
    // Decided, all of them: no more than fit were admitted.
    expect(upstreamCalls('budget').length).toBeLessThanOrEqual(10);
    const firstAdmission = Date.now();

    await topology.kill(1);
    // The kill hit work in flight: held bursts and steady load on that gateway were cut.
    await eventually(() => expect(rpmTally.count('cut')).toBeGreaterThan(0), 30_000);
    const restarting = topology.restart(1);

    // The rest of the burst on the two gateways left: the window fills to exactly RPM.
    for (let i = 15; i < 60; i++) rpmTally.add(send(rpm.lb, body(`rpm ${i}`)));
    await eventually(() => expect(rpmTally.count('refused')).toBe(60 - RPM), 60_000);
    gates.rpm.open();
    gates.budget.open();
    await rpmTally.all();
    await budgetTally.all();
    await restarting;

    // The restarted gateway, and every other, refuses within the window too.
    const later = new Tally();
    const sentAt = Date.now();
    for (let i = 60; i < 66; i++) later.add(send(rpm.lb, body(`rpm ${i}`)));
    await later.all();
    // Refused, unless the sliding window has let the first admissions go since.
    if (sentAt - firstAdmission < 60_000) expect(later.count('refused')).toBe(6);
    for (let i = 0; i < 3; i++) budgetTally.add(send(budget.lb, budgetBody));
    await budgetTally.all();
    await load.stop();

    // Rate limit: exactly RPM reached the upstream; every other request got 429.
    const rpmCalls = upstreamCalls('rpm');
    expect(rpmCalls.length - later.count('answered')).toBe(RPM);
    expect(rpmTally.count('answered') + rpmTally.count('cut')).toBe(RPM);
    expect(rpmTally.count('refused')).toBe(60 - RPM);
    // The cut ones are exactly those the upstream saw their gateway abandon.
    expect(rpmCalls.filter((r) => r.wasAborted())).toHaveLength(rpmTally.count('cut'));
    for (const outcome of rpmTally.settled)
      if (outcome.kind === 'refused') expect(outcome.code).toBe('rate_limit_exceeded');

    // Budget: no more answered than fit, every refusal insufficient_quota. A cut request used
    // nothing, so its reservation comes back once its dead gateway's hold lapses (15 s) and
    // a later request may take it: admissions may pass 10, answers may not. The burst may
    // all have been admitted by the gateway that was killed (one ledger call admits every
    // request waiting on an instance while they fit), and the later requests come before
    // the hold lapses: then none is answered, and the budget still admitted the burst.
    const budgetAdmitted = upstreamCalls('budget').filter((r) => !r.wasAborted()).length;
    const budgetSeen = {
      upstream: upstreamCalls('budget').length,
      outcomes: budgetTally.settled.map((o) => (o.kind === 'refused' ? o.code : o.kind)),
    };
    expect(upstreamCalls('budget').length, JSON.stringify(budgetSeen)).toBeGreaterThan(0);
    expect(budgetAdmitted).toBeLessThanOrEqual(10);
    for (const outcome of budgetTally.settled)
      if (outcome.kind === 'refused') expect(outcome.code).toBe('insufficient_quota');

    // Usage: after both workers drain, one record per answer, none twice.
    const rows = await expectExactlyOnce(
      services,
      { stream: topology.stream, redisUrl: TOPOLOGY_REDIS_URL },
      {
        [rpm.slug]: [...rpmTally.answeredIds(), ...later.answeredIds()],
        [budget.slug]: budgetTally.answeredIds(),
        [steady.slug]: load.tally.answeredIds(),
      },
    );
    const spent = (rows[budget.slug] ?? []).reduce((sum, row) => sum + Number(row.cost), 0);
    expect(spent).toBeLessThanOrEqual(amount);
    console.log(
      `kill -9: rpm ${rpmTally.count('answered')} answered, ${rpmTally.count('cut')} cut, ${rpmTally.count('refused')} refused; budget ${budgetAdmitted} answered, spent ${spent.toFixed(4)} of ${amount.toFixed(4)}; steady load ${load.tally.count('answered')} answered, ${load.tally.count('cut')} cut`,
    );
  }, 300_000);

  it('makes one upstream call for identical concurrent requests through different gateways', async () => {
    const dedup = await tenant('topo-dedup');
    const followers = async () => {
      let total = 0;
      for (const gateway of topology.gateways)
        total += await metricOf(gateway.url, 'llm_backend_dedup_followers_total');
      return total;
    };
    const before = await followers();
    const served = new Map(topology.balancer.served);
    const calls = Array.from({ length: 12 }, () => send(dedup.lb, sharedBody('dedup shared')));
    await eventually(async () => expect(await followers()).toBe(before + 11), 60_000);
    gates.dedup.open();
    const outcomes = await Promise.all(calls);
    expect(upstreamCalls('dedup')).toHaveLength(1);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ content: 'answer dedup' });
    // Each of the three gateways answered four of them.
    for (const gateway of topology.gateways)
      expect(
        (topology.balancer.served.get(gateway.url) ?? 0) - (served.get(gateway.url) ?? 0),
      ).toBe(4);
  }, 120_000);

  it('refuses a revoked key on every instance once the revocation is announced', async () => {
    const revoked = await tenant('topo-revoke');
    const first = topology.gateways[0]?.url ?? '';
    const revoke = (keyId: string) =>
      fetch(`${first}/admin/v1/tenants/${revoked.slug}/api-keys/${keyId}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${topology.adminKey}` },
      });
    // A key that is not there: an error of the registry, and nothing announced or changed.
    const unknown = await revoke('key_0000000000000000000000000');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe(
      'key_not_found',
    );
    // Every instance has the key in its cache: only the announcement can make it refuse.
    for (const gateway of topology.gateways)
      expect(await send(revoked.client(gateway.url), body('warm'))).toMatchObject({
        kind: 'answered',
      });
    // Through the product's own opener, so a cluster URL works as well as a standalone one.
    const connections = openRedis(TOPOLOGY_REDIS_URL);
    const subscriber = connections.subscriber();
    let announcedAt: number | null = null;
    await subscriber.subscribe('llm-backend:keys:invalidate');
    subscriber.on('message', (_channel: string, text: string) => {
      if (text.includes(revoked.keyId)) announcedAt ??= performance.now();
    });
    try {
      const response = await revoke(revoked.keyId);
      expect(response.status).toBe(200);
      const revokedAt = performance.now();
      await eventually(() => expect(announcedAt).not.toBeNull(), 10_000);
      // Each instance's next request after the announcement: a generous poll, never a
      // timing window; 30 s stays below the key cache's lifetime (60 s), so a refusal here
      // comes from the announcement, not from the cache running out.
      const delays = await Promise.all(
        topology.gateways.map(async (gateway) => {
          const { attempt, error, at } = await untilRefused(revoked.client(gateway.url), 30_000);
          expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
          return {
            url: gateway.url,
            attempt,
            ms: at - revokedAt,
            sinceAnnounced: at - (announcedAt ?? 0),
          };
        }),
      );
      console.log(
        `revocation: announced ${(revokedAt - (announcedAt ?? 0)).toFixed(1)} ms before the admin call returned; after it returned, refused ${delays.map((d) => `${d.url} on attempt ${d.attempt}, ${d.ms.toFixed(1)} ms after it returned (${d.sinceAnnounced.toFixed(1)} ms after the announcement)`).join(', ')}`,
      );
      // The order of events: every instance refused its first request after the announcement.
      for (const delay of delays) expect(delay.attempt).toBe(1);
    } finally {
      await connections.close();
    }
  }, 120_000);
});
