import type { AlertsConfig } from '../../config/alerts.js';
import type { AlertEventType, AlertType } from '../events/catalogue.js';
import type { EpisodeGate } from './episode-gate.js';
import { median, percentile, RollingSum } from './windows.js';

/** One finished request, as the monitor sees it. */
export interface RequestSample {
  at: number;
  tenantId: string;
  model: string;
  /** Status 500 and above: the model or the gateway failed it. */
  failed: boolean;
  /** To the first token for streams, whole for the rest; null when nothing came back. */
  latencyMs: number | null;
  tokens: number;
}

export interface AlertMonitorOptions {
  config: AlertsConfig;
  gate: EpisodeGate;
  /** Told of each episode opened or over (the publisher's `publish`). */
  onEvent: (type: AlertEventType, tenantId: string | null, data: Record<string, unknown>) => void;
  onError: (error: unknown) => void;
  clock?: () => number;
}

/** Where one condition stands on this instance, and whether this instance told of it. */
interface Episode {
  open: boolean;
  told: boolean;
}

interface Finding {
  key: string;
  type: AlertType;
  tenantId: string | null;
  active: boolean;
  data: Record<string, unknown>;
}

const SEP = '\u0000';
/** Latency samples kept per model and window; enough for a p95, bounded in memory. */
const MAX_SAMPLES = 2000;

/**
 * Watches finished requests for trouble: a tenant's error rate on a model, a tenant's token
 * consumption against its own recent baseline, a model's latency against its own baseline,
 * and the gateway's event-loop delay. Each condition raises one event when its episode
 * opens (once across instances, through the gate) and one when it is over, never one per
 * request. Each instance judges the traffic it serves.
 */
export class AlertMonitor {
  private readonly clock: () => number;
  private readonly errors = new Map<string, { total: RollingSum; failed: RollingSum }>();
  private readonly consumption = new Map<string, { tokens: RollingSum; since: number }>();
  private readonly latency = new Map<
    string,
    { samples: { at: number; ms: number }[]; p95s: { at: number; p95: number }[] }
  >();
  private readonly episodes = new Map<string, Episode>();
  private loopDelayP99Ms: number | null = null;

  constructor(private readonly options: AlertMonitorOptions) {
    this.clock = options.clock ?? Date.now;
  }

  observe(sample: RequestSample): void {
    const { windowMs, consumption } = this.options.config;
    const key = `${sample.tenantId}${SEP}${sample.model}`;
    let errors = this.errors.get(key);
    if (errors === undefined) {
      errors = { total: new RollingSum(windowMs), failed: new RollingSum(windowMs) };
      this.errors.set(key, errors);
    }
    errors.total.add(sample.at, 1);
    if (sample.failed) errors.failed.add(sample.at, 1);
    let used = this.consumption.get(sample.tenantId);
    if (used === undefined) {
      used = { tokens: new RollingSum(consumption.baselineMs, windowMs / 6), since: sample.at };
      this.consumption.set(sample.tenantId, used);
    }
    used.tokens.add(sample.at, sample.tokens);
    if (sample.latencyMs !== null && !sample.failed) {
      let latency = this.latency.get(sample.model);
      if (latency === undefined) {
        latency = { samples: [], p95s: [] };
        this.latency.set(sample.model, latency);
      }
      latency.samples.push({ at: sample.at, ms: sample.latencyMs });
      if (latency.samples.length > MAX_SAMPLES) latency.samples.shift();
    }
  }

  /** The gateway's event-loop delay (p99 over the last window), measured by the caller. */
  observeLoopDelay(p99Ms: number): void {
    this.loopDelayP99Ms = p99Ms;
  }

  /** Judges every condition now; call it a few times per window. */
  async evaluate(): Promise<void> {
    const now = this.clock();
    const findings = [
      ...this.errorRates(now),
      ...this.consumptions(now),
      ...this.latencies(now),
      ...this.loopDelay(),
    ];
    for (const finding of findings) await this.settle(finding);
  }

  private *errorRates(now: number): Iterable<Finding> {
    const { threshold, minRequests } = this.options.config.errorRate;
    for (const [key, counts] of this.errors) {
      const total = counts.total.sum(now);
      const failed = counts.failed.sum(now);
      if (total === 0) this.errors.delete(key);
      const [tenantId, model] = key.split(SEP) as [string, string];
      const rate = total === 0 ? 0 : failed / total;
      yield {
        key: `error_rate${SEP}${key}`,
        type: 'alert.error_rate',
        tenantId,
        // Open at the threshold; over only once well below it, so a rate hovering at the
        // threshold is one episode, not many.
        active: this.isOpen(`error_rate${SEP}${key}`)
          ? rate >= threshold / 2
          : total >= minRequests && rate >= threshold,
        data: {
          model,
          requests: total,
          failed,
          error_rate: round(rate),
          threshold,
          ...this.window(),
        },
      };
    }
  }

  private *consumptions(now: number): Iterable<Finding> {
    const { windowMs, consumption } = this.options.config;
    for (const [tenantId, used] of this.consumption) {
      const current = used.tokens.between(now - windowMs, now + 1);
      const earlier = used.tokens.between(now - consumption.baselineMs, now - windowMs);
      const windows = (consumption.baselineMs - windowMs) / windowMs;
      const baseline = earlier / windows;
      // A tenant seen for less than the baseline period has no baseline yet.
      const warm = now - used.since >= consumption.baselineMs;
      const limit = Math.max(consumption.minTokens, consumption.factor * baseline);
      const key = `consumption${SEP}${tenantId}`;
      yield {
        key,
        type: 'alert.unusual_consumption',
        tenantId,
        active: warm && (this.isOpen(key) ? current >= limit / 2 : current >= limit),
        data: {
          tokens: current,
          baseline_tokens: Math.round(baseline),
          factor: consumption.factor,
          ...this.window(),
        },
      };
    }
  }

  private *latencies(now: number): Iterable<Finding> {
    const { windowMs, latency: config } = this.options.config;
    for (const [model, latency] of this.latency) {
      latency.samples = latency.samples.filter((sample) => sample.at > now - windowMs);
      latency.p95s = latency.p95s.filter((entry) => entry.at > now - config.baselineMs);
      const p95 =
        latency.samples.length >= config.minRequests
          ? percentile(
              latency.samples.map((s) => s.ms),
              95,
            )
          : null;
      // The baseline leaves out the current window, so a slow spell cannot raise its own bar.
      const baseline = median(
        latency.p95s.filter((entry) => entry.at <= now - windowMs).map((entry) => entry.p95),
      );
      if (p95 !== null) latency.p95s.push({ at: now, p95 });
      const key = `latency${SEP}${model}`;
      const enough = p95 !== null && baseline !== null && baseline > 0;
      const ratio = enough ? p95 / baseline : 0;
      yield {
        key,
        type: 'alert.latency_degraded',
        tenantId: null,
        active: enough && (this.isOpen(key) ? ratio >= config.factor / 2 : ratio >= config.factor),
        data: {
          model,
          p95_ms: p95,
          baseline_p95_ms: baseline,
          factor: config.factor,
          requests: latency.samples.length,
          ...this.window(),
        },
      };
      if (latency.samples.length === 0 && latency.p95s.length === 0) this.latency.delete(model);
    }
  }

  private *loopDelay(): Iterable<Finding> {
    const p99 = this.loopDelayP99Ms;
    if (p99 === null) return;
    const { p99Ms } = this.options.config.eventLoop;
    const key = 'event_loop';
    yield {
      key,
      type: 'alert.event_loop_lag',
      tenantId: null,
      active: this.isOpen(key) ? p99 >= p99Ms / 2 : p99 >= p99Ms,
      data: { p99_ms: round(p99), threshold_ms: p99Ms },
    };
  }

  private isOpen(key: string): boolean {
    return this.episodes.get(key)?.open ?? false;
  }

  private async settle(finding: Finding): Promise<void> {
    const episode = this.episodes.get(finding.key) ?? { open: false, told: false };
    const gateKey = `llmb:alert:${finding.tenantId ?? 'platform'}:${finding.key.replaceAll(SEP, ':')}`;
    const ttlMs = 2 * this.options.config.windowMs;
    try {
      if (finding.active && !episode.open) {
        episode.open = true;
        episode.told = await this.options.gate.open(gateKey, ttlMs);
        if (episode.told) this.tell(finding, finding.type);
      } else if (finding.active) {
        await this.options.gate.keep(gateKey, ttlMs);
      } else if (episode.open) {
        if (episode.told) this.tell(finding, `${finding.type}.resolved`);
        episode.open = false;
        episode.told = false;
      }
    } catch (error) {
      this.options.onError(error);
    }
    if (episode.open) this.episodes.set(finding.key, episode);
    else this.episodes.delete(finding.key);
  }

  private tell(finding: Finding, type: AlertEventType): void {
    this.options.onEvent(type, finding.tenantId, finding.data);
  }

  private window() {
    return { window_seconds: this.options.config.windowMs / 1000 };
  }
}

const round = (value: number) => Math.round(value * 1000) / 1000;
