import type { UsageQueue } from '../../src/services/usage/queue.js';
import type { UsageEvent } from '../../src/services/usage/usage-records.js';

/** A usage queue whose writes a test sees, counts and may hold back. */
export interface ObservedQueue {
  /** Every write (one `publish` call: one pipelined batch), in order. */
  readonly batches: UsageEvent[][];
  /** Things that happened, in order: `acked:<requestId>` once a write holding it returned. */
  readonly log: string[];
  /** Writes wait from now on until release(). */
  hold(): void;
  release(): void;
  /** Resolves once a write holding an event that matches has been sent (or is held). */
  written(match: (event: UsageEvent) => boolean): Promise<UsageEvent>;
}

/**
 * Wraps a real queue's publish in place: the events still go to Redis (or memory), and the
 * test learns when each write went, when it came back, and can hold writes to see what waits.
 */
export function observe(queue: UsageQueue): ObservedQueue {
  const batches: UsageEvent[][] = [];
  const log: string[] = [];
  const waiters: { match: (event: UsageEvent) => boolean; found: (event: UsageEvent) => void }[] =
    [];
  let gate: Promise<void> | null = null;
  let open = () => {};
  const publish = queue.publish.bind(queue);
  const notify = (events: UsageEvent[]) => {
    for (const waiter of [...waiters]) {
      const event = events.find(waiter.match);
      if (event === undefined) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.found(event);
    }
  };
  queue.publish = async (events) => {
    batches.push(events);
    if (gate !== null) {
      notify(events);
      await gate;
    }
    const sent = publish(events);
    notify(events);
    await sent;
    for (const event of events) log.push(`acked:${event.requestId}`);
  };
  return {
    batches,
    log,
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = null;
      open();
    },
    written(match) {
      const seen = batches.flat().find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((found) => waiters.push({ match, found }));
    },
  };
}
