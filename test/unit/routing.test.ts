import { describe, expect, it } from 'vitest';
import type { DeploymentConfig } from '../../src/config/load.js';
import { UpstreamError } from '../../src/providers/errors.js';
import { CircuitBreaker } from '../../src/services/routing/circuit-breaker.js';
import { DeploymentState } from '../../src/services/routing/deployment-state.js';
import { classifyFailure, parseRetryAfter } from '../../src/services/routing/failure-kind.js';
import { MinuteWindow } from '../../src/services/routing/minute-window.js';
import { orderDeployments } from '../../src/services/routing/strategies.js';

const circuit = { failureThreshold: 3, cooldownMs: 1000 };

function state(id: string, extra: Partial<DeploymentConfig> = {}): DeploymentState {
  const config: DeploymentConfig = {
    id,
    providerId: id,
    upstreamModel: id,
    weight: 1,
    priority: 0,
    region: null,
    requestsPerMinute: null,
    tokensPerMinute: null,
    pricing: { input: 1, output: 1, cachedInput: 0 },
    ...extra,
  };
  return new DeploymentState('m', config, circuit, true);
}

describe('CircuitBreaker', () => {
  it('opens after consecutive failures, lets one probe through after the cooldown', () => {
    const breaker = new CircuitBreaker(circuit);
    breaker.failure(0);
    breaker.failure(1);
    expect(breaker.state(2)).toBe('closed');
    breaker.success();
    breaker.failure(3);
    breaker.failure(4);
    expect(breaker.state(5)).toBe('closed');
    breaker.failure(5);
    expect(breaker.state(6)).toBe('open');
    expect(breaker.canPass(999)).toBe(false);
    expect(breaker.state(1005)).toBe('half_open');
    expect(breaker.canPass(1005)).toBe(true);
    breaker.begin(1005);
    // The probe is in flight: nothing else passes until it is judged.
    expect(breaker.canPass(1006)).toBe(false);
    breaker.failure(1010);
    expect(breaker.state(1011)).toBe('open');
    expect(breaker.state(2010)).toBe('half_open');
    breaker.begin(2010);
    breaker.success();
    expect(breaker.state(2011)).toBe('closed');
  });

  it('a probe that ended without a verdict frees the way for the next one', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 10 });
    breaker.failure(0);
    breaker.begin(20);
    expect(breaker.canPass(21)).toBe(false);
    breaker.release();
    expect(breaker.canPass(21)).toBe(true);
  });

  it('a circuit with an infinite threshold never opens, even when tripped', () => {
    const breaker = new CircuitBreaker({
      failureThreshold: Number.POSITIVE_INFINITY,
      cooldownMs: 0,
    });
    for (let i = 0; i < 100; i++) breaker.failure(i);
    breaker.trip(100);
    expect(breaker.state(101)).toBe('closed');
    breaker.begin(101);
    expect(breaker.canPass(101)).toBe(true);
  });
});

describe('orderDeployments', () => {
  const fixed = () => 0.5;

  it('priority: lower first; equal priorities keep both in play', () => {
    const order = orderDeployments(
      [state('b', { priority: 1 }), state('a', { priority: 0 })],
      'priority',
      fixed,
    );
    expect(order.map((s) => s.config.id)).toEqual(['a', 'b']);
  });

  it('lowest-cost: cheapest first, priority breaking ties', () => {
    const order = orderDeployments(
      [
        state('dear', { pricing: { input: 5, output: 15, cachedInput: 0 } }),
        state('cheap-2', { priority: 2, pricing: { input: 0.1, output: 0.1, cachedInput: 0 } }),
        state('cheap-1', { priority: 1, pricing: { input: 0.1, output: 0.1, cachedInput: 0 } }),
      ],
      'lowest-cost',
      fixed,
    );
    expect(order.map((s) => s.config.id)).toEqual(['cheap-1', 'cheap-2', 'dear']);
  });

  it('least-busy and least-latency read the live state', () => {
    const a = state('a');
    const b = state('b');
    a.begin(0, 0);
    expect(orderDeployments([a, b], 'least-busy', fixed)[0]).toBe(b);
    a.observeLatency(50);
    b.observeLatency(500);
    expect(orderDeployments([b, a], 'least-latency', fixed)[0]).toBe(a);
    const fresh = state('fresh');
    expect(orderDeployments([a, fresh], 'least-latency', fixed)[0]).toBe(fresh);
  });

  it('weighted: a weight of 0 is tried last; weights set the odds', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 48_271) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const heavy = state('heavy', { weight: 9 });
    const light = state('light', { weight: 1 });
    const off = state('off', { weight: 0 });
    let first = 0;
    for (let i = 0; i < 2000; i++) {
      const order = orderDeployments([off, light, heavy], 'weighted', random);
      expect(order[2]).toBe(off);
      if (order[0] === heavy) first++;
    }
    expect(first / 2000).toBeGreaterThan(0.86);
    expect(first / 2000).toBeLessThan(0.94);
  });
});

describe('DeploymentState', () => {
  it('is unavailable at its own per-minute limits and while cooling down', () => {
    const limited = state('l', { requestsPerMinute: 2, tokensPerMinute: 100 });
    expect(limited.available(0, 60)).toBe(true);
    limited.begin(0, 60);
    expect(limited.available(0, 60)).toBe(false);
    expect(limited.available(0, 40)).toBe(true);
    limited.begin(1000, 10);
    expect(limited.available(1000, 1)).toBe(false);
    // A minute later the window has moved past both.
    expect(limited.available(61_000, 60)).toBe(true);
    limited.coolDown(70_000);
    expect(limited.available(65_000, 1)).toBe(false);
    expect(limited.available(70_000, 1)).toBe(true);
  });

  it('a deployment with nowhere else to go never cools down', () => {
    const config = state('x').config;
    const lone = new DeploymentState('m', config, circuit, false);
    lone.coolDown(10_000);
    expect(lone.available(0, 0)).toBe(true);
  });
});

describe('MinuteWindow', () => {
  it('sums the last sixty seconds', () => {
    const window = new MinuteWindow();
    window.add(0, 5);
    window.add(30_000, 7);
    expect(window.total(59_999)).toBe(12);
    expect(window.total(60_000)).toBe(7);
    expect(window.total(90_000)).toBe(0);
  });
});

describe('classifyFailure', () => {
  const http = (status: number, body: unknown = null, retryAfter: string | null = null) =>
    new UpstreamError('p', { kind: 'http', status, body, retryAfter });

  it('tells retry, failover, context and final apart', () => {
    expect(classifyFailure(http(500), 0)).toMatchObject({ kind: 'retry', unhealthy: true });
    expect(classifyFailure(http(529), 0)).toMatchObject({ kind: 'retry', unhealthy: true });
    expect(classifyFailure(http(429, null, '2'), 0)).toEqual({
      kind: 'retry',
      unhealthy: false,
      retryAfterMs: 2000,
    });
    expect(classifyFailure(http(401), 0)).toMatchObject({ kind: 'failover', unhealthy: true });
    expect(classifyFailure(http(404), 0).kind).toBe('failover');
    expect(
      classifyFailure(http(400, { error: { message: 'x', code: 'context_length_exceeded' } }), 0)
        .kind,
    ).toBe('context');
    expect(
      classifyFailure(http(400, { error: { message: 'maximum context length is 4096' } }), 0).kind,
    ).toBe('context');
    expect(classifyFailure(http(400, { error: { message: 'bad' } }), 0).kind).toBe('final');
    expect(
      classifyFailure(new UpstreamError('p', { kind: 'timeout', phase: 'first_byte' }), 0),
    ).toMatchObject({ kind: 'retry', unhealthy: true });
    expect(classifyFailure(new Error('bug'), 0).kind).toBe('final');
  });

  it('reads retry-after as seconds or as a date', () => {
    expect(parseRetryAfter('1.5', 0)).toBe(1500);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:10 GMT', 4000)).toBe(6000);
    expect(parseRetryAfter('soon', 0)).toBeNull();
    expect(parseRetryAfter(null, 0)).toBeNull();
  });
});

describe('DeploymentState.status', () => {
  it('gives the median of the latest latencies and the deployment settings', () => {
    const deployment = state('eu', { region: 'eu', weight: 3, priority: 1 });
    expect(deployment.status(0)).toMatchObject({ latency_ms_p50: null, circuit_state: 'closed' });
    for (const ms of [10, 500, 30]) deployment.observeLatency(ms);
    expect(deployment.status(0)).toEqual({
      model: 'm',
      deployment: 'eu',
      provider: 'eu',
      circuit_state: 'closed',
      in_flight: 0,
      latency_ms_p50: 30,
      region: 'eu',
      weight: 3,
      priority: 1,
    });
    deployment.observeLatency(40);
    expect(deployment.latencyP50()).toBe(35);
    // Only the latest 101 count: slow old samples are pushed out by fast new ones.
    for (let i = 0; i < 101; i++) deployment.observeLatency(5);
    expect(deployment.latencyP50()).toBe(5);
  });
});
