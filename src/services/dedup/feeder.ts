import { GatewayError } from '../../errors/gateway-error.js';
import { type FlightEntry, isFinal, shareError } from './entries.js';
import type { FlightExchange, Leadership } from './exchange.js';
import type { Flight } from './flight.js';
import { StreamCursor } from './resume.js';
import { pump, type Upstream, type UpstreamCall } from './upstream-pump.js';

export interface DedupSettings {
  /** Also share requests whose answer may vary (no temperature 0, or n > 1). */
  nondeterministic: boolean;
  /** How long a leadership lives without its heartbeat: the takeover's delay after a crash. */
  leaseMs: number;
  /** The longest a follower waits for the next entry of a live leader before it calls itself. */
  waitMs: number;
  /** The longest a claim may take; past it the request goes upstream on its own. */
  claimTimeoutMs: number;
}

export interface DedupMetrics {
  leader(): void;
  follower(): void;
  takeover(): void;
}

/** Leaders a flight follows one after another before it calls the upstream itself. */
const MAX_LEADERS = 3;

export interface FeederOptions {
  upstream: Upstream;
  exchange: FlightExchange | null;
  settings: DedupSettings;
  metrics: DedupMetrics;
  onError: (error: unknown, message: string) => void;
  /** Until when claims are not tried after the exchange failed (epoch ms). */
  health: { pausedUntil: number };
}

type Followed = 'done' | 'gone' | 'failed' | 'waited' | 'abandoned';

/** A leader's id: unique per leadership, and naming the request whose call it is. */
const leaderIdOf = (requestId: string) =>
  `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}/${requestId}`;
const requestIdOf = (leaderId: string) => leaderId.slice(leaderId.indexOf('/') + 1);

/**
 * Feeds one flight to its end: claims the request key across instances, then either calls
 * the upstream (publishing what comes back) or follows the leader's entries; when a leader
 * dies or fails before answering, claims again, so one follower takes over. Without an
 * exchange, or with one that fails, this instance simply calls the upstream itself.
 */
export async function feed(
  options: FeederOptions,
  flight: Flight,
  tenantId: string,
  key: string,
  request: UpstreamCall,
): Promise<void> {
  const cursor = new StreamCursor();
  const sink = (entry: FlightEntry) => {
    if (entry.type === 'head' && flight.entries.some((e) => e.type === 'head')) return;
    if (entry.type !== 'chunk') return flight.append(entry);
    const data = cursor.next(entry.data);
    if (data !== null) flight.append({ type: 'chunk', data });
  };
  const { exchange } = options;
  if (exchange === null) {
    options.metrics.leader();
    return callUpstream(options, flight, request, sink, null);
  }
  const candidate = leaderIdOf(request.call.requestId);
  for (let followed = 0; ; followed++) {
    if (!cursor.resumable) return sink(cutOff());
    // Whoever answers next starts from the first word again.
    cursor.restart();
    const claim = await claimWithin(options, exchange, tenantId, key, candidate);
    if (claim === null) return callUpstream(options, flight, request, sink, null);
    if (claim.leader) {
      if (followed > 0) options.metrics.takeover();
      else options.metrics.leader();
      const leadership = exchange.lead(tenantId, key, candidate);
      return callUpstream(options, flight, request, sink, leadership);
    }
    // Nobody waits forever: after a few leaders, or a silent one, this one calls itself.
    if (followed >= MAX_LEADERS) return callUpstream(options, flight, request, sink, null);
    const at = { tenantId, key };
    const following = followLeader(options, exchange, flight, at, claim.holder, sink);
    // Counted once the leader can see this follower, which keeps its call going.
    if (followed === 0) options.metrics.follower();
    const how = await following;
    if (how === 'done' || how === 'abandoned') return;
    if (how === 'failed' || how === 'waited') {
      if (!cursor.resumable) return sink(cutOff());
      cursor.restart();
      return callUpstream(options, flight, request, sink, null);
    }
  }
}

/** The claim, or null when the exchange cannot say in time (no sharing then). */
async function claimWithin(
  options: FeederOptions,
  exchange: FlightExchange,
  tenantId: string,
  key: string,
  candidate: string,
) {
  // Redis away: requests are shared within this instance only, without a claim's wait each.
  if (Date.now() < options.health.pausedUntil) return null;
  let late = false;
  const claim = exchange.claim(tenantId, key, candidate);
  // A claim won after its deadline is given back at once, so nobody follows a ghost.
  claim.then(
    (won) => late && won.leader && exchange.lead(tenantId, key, candidate).end(),
    () => {},
  );
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      late = true;
      resolve(null);
    }, options.settings.claimTimeoutMs);
  });
  try {
    return await Promise.race([claim, deadline]);
  } catch (error) {
    options.health.pausedUntil = Date.now() + options.settings.leaseMs;
    options.onError(error, 'request deduplication across instances unavailable');
    return null;
  } finally {
    clearTimeout(timer);
  }
}

async function callUpstream(
  options: FeederOptions,
  flight: Flight,
  request: UpstreamCall,
  sink: (entry: FlightEntry) => void,
  leadership: Leadership | null,
): Promise<void> {
  flight.upstreamLocal = true;
  flight.leaderRequestId = request.call.requestId;
  flight.choosePayer();
  // The call is cut only when nobody wants the answer: no client here, no follower anywhere.
  const abandon = async () => {
    if (leadership !== null && (await leadership.followed())) return;
    if (flight.empty && !flight.done) flight.controller.abort();
  };
  flight.onIdle = () => void abandon();
  if (flight.empty) void abandon();
  // The flight's own call: cut by the flight only, and with no request's last step in it.
  const call = { ...request.call, signal: flight.controller.signal, commit: undefined };
  await pump(options.upstream, { ...request, call }, (entry) => {
    leadership?.publish(entry);
    sink(entry);
  });
  leadership?.end();
}

/** Reads a leader's entries into the flight until they end, or the leader is gone. */
function followLeader(
  options: FeederOptions,
  exchange: FlightExchange,
  flight: Flight,
  at: { tenantId: string; key: string },
  holder: string,
  sink: (entry: FlightEntry) => void,
): Promise<Followed> {
  flight.upstreamLocal = false;
  flight.leaderRequestId = requestIdOf(holder);
  flight.payer = null;
  return new Promise<Followed>((resolve) => {
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (how: Followed) => {
      clearTimeout(timer);
      flight.onIdle = null;
      reading.stop();
      resolve(how);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish('waited'), options.settings.waitMs);
    };
    const reading = exchange.follow(at.tenantId, at.key, holder, {
      entry: (entry) => {
        arm();
        // A leader that failed before answering: another claim, so one follower retries.
        if (entry.type === 'error' && entry.error.retryable && !answered) return finish('gone');
        if (entry.type === 'head' || entry.type === 'result') answered = true;
        sink(entry);
        if (isFinal(entry)) finish('done');
      },
      leaderGone: () => finish('gone'),
      failed: (error) => {
        options.onError(error, 'following a deduplicated request failed; calling the upstream');
        finish('failed');
      },
    });
    flight.onIdle = () => {
      sink({ type: 'error', error: shareError(new GatewayError('upstream_error')), usage: null });
      finish('abandoned');
    };
    arm();
  });
}

/** A stream that delivered tool calls cannot be continued from another leader's. */
function cutOff(): FlightEntry {
  const error = new GatewayError('upstream_error', {
    message: 'The upstream stream was cut off and could not be resumed.',
  });
  return { type: 'error', error: shareError(error), usage: null };
}
