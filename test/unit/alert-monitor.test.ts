import { describe, expect, it } from 'vitest';
import type { AlertsConfig } from '../../src/config/alerts.js';
import { AlertMonitor, type RequestSample } from '../../src/services/alerts/alert-monitor.js';
import { MemoryEpisodeGate } from '../../src/services/alerts/episode-gate.js';
import type { NewEvent } from '../../src/services/events/event-log.js';

const CONFIG: AlertsConfig = {
  windowMs: 60_000,
  errorRate: { threshold: 0.5, minRequests: 10 },
  consumption: { factor: 5, minTokens: 1000, baselineMs: 10 * 60_000 },
  latency: { factor: 3, minRequests: 10, baselineMs: 10 * 60_000 },
  eventLoop: { p99Ms: 200 },
};

function setup(gate = new MemoryEpisodeGate(() => now.value), now = { value: 1_800_000_000_000 }) {
  const events: NewEvent[] = [];
  const monitor = new AlertMonitor({
    config: CONFIG,
    gate,
    onEvent: (type, tenantId, data) => events.push({ type, tenantId, data }),
    onError: (error) => {
      throw error;
    },
    clock: () => now.value,
  });
  const sample = (extra: Partial<RequestSample> = {}): RequestSample => ({
    at: now.value,
    tenantId: 'tnt_a',
    model: 'gpt-test',
    failed: false,
    latencyMs: 100,
    tokens: 50,
    ...extra,
  });
  /** Steady traffic: `perWindow` requests spread over `minutes`, judged every 10 s. */
  const run = async (minutes: number, perTick: (tick: number) => Partial<RequestSample>[]) => {
    for (let tick = 0; tick < minutes * 6; tick++) {
      for (const extra of perTick(tick)) monitor.observe(sample(extra));
      now.value += 10_000;
      await monitor.evaluate();
    }
  };
  return { monitor, events, run, now, gate };
}

const types = (events: NewEvent[]) => events.map((event) => event.type);

describe('alert monitor', () => {
  it('stays quiet for normal traffic', async () => {
    const { events, run } = setup();
    await run(20, (tick) => [{}, {}, { failed: tick % 10 === 0 }]);
    expect(events).toEqual([]);
  });

  it('raises an error-rate episode once, then says when it is over', async () => {
    const { events, run } = setup();
    await run(2, () => [{}, {}]);
    await run(3, () => [{ failed: true }, { failed: true }, {}]);
    await run(3, () => [{}, {}, {}]);
    expect(types(events)).toEqual(['alert.error_rate', 'alert.error_rate.resolved']);
    expect(events[0]).toMatchObject({
      tenantId: 'tnt_a',
      data: { model: 'gpt-test', threshold: 0.5 },
    });
    expect(events[0]?.data.error_rate).toBeGreaterThanOrEqual(0.5);
  });

  it('needs enough requests before a rate means anything', async () => {
    const { events, run } = setup();
    await run(5, (tick) => (tick % 12 === 0 ? [{ failed: true }] : []));
    expect(events).toEqual([]);
  });

  it("raises unusual consumption against the tenant's own baseline, once", async () => {
    const { events, run } = setup();
    // Ten minutes of 100 tokens per 10 s: a baseline of 600 tokens a minute.
    await run(11, () => [{ tokens: 100 }]);
    expect(events).toEqual([]);
    // Ten times that for two minutes.
    await run(2, () => [{ tokens: 1000 }]);
    expect(types(events)).toEqual(['alert.unusual_consumption']);
    expect(events[0]?.data).toMatchObject({ factor: 5 });
  });

  it('raises degraded latency for a model against its own p95, for operators', async () => {
    const { events, run } = setup();
    await run(11, () => [{ latencyMs: 100 }, { latencyMs: 120 }]);
    await run(2, () => [{ latencyMs: 900 }, { latencyMs: 1000 }]);
    expect(types(events)).toEqual(['alert.latency_degraded']);
    expect(events[0]).toMatchObject({ tenantId: null, data: { model: 'gpt-test' } });
    await run(3, () => [{ latencyMs: 100 }, { latencyMs: 110 }]);
    expect(types(events)).toEqual(['alert.latency_degraded', 'alert.latency_degraded.resolved']);
  });

  it('raises event-loop lag once per episode', async () => {
    const { monitor, events } = setup();
    for (const p99 of [10, 250, 300, 260, 20, 15]) {
      monitor.observeLoopDelay(p99);
      await monitor.evaluate();
    }
    expect(types(events)).toEqual(['alert.event_loop_lag', 'alert.event_loop_lag.resolved']);
  });

  it('tells an episode once across instances sharing a gate', async () => {
    const now = { value: 1_800_000_000_000 };
    const gate = new MemoryEpisodeGate(() => now.value);
    const first = setup(gate, now);
    const second = setup(gate, now);
    for (let tick = 0; tick < 18; tick++) {
      for (const instance of [first, second]) {
        instance.monitor.observe({
          at: now.value,
          tenantId: 'tnt_a',
          model: 'm',
          failed: true,
          latencyMs: null,
          tokens: 0,
        });
        instance.monitor.observe({
          at: now.value,
          tenantId: 'tnt_a',
          model: 'm',
          failed: true,
          latencyMs: null,
          tokens: 0,
        });
        await instance.monitor.evaluate();
      }
      now.value += 10_000;
    }
    expect([...types(first.events), ...types(second.events)]).toEqual(['alert.error_rate']);
  });
});
