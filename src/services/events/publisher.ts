import { Value } from '@sinclair/typebox/value';
import { EVENT_TYPES, type EventData, type EventType } from './catalogue.js';
import type { EventLog, NewEvent } from './event-log.js';

export interface EventPublisherLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface EventPublisherOptions {
  /** Where events go for webhooks to deliver. */
  log: EventLog;
  logger: EventPublisherLog;
  /** Counts each event raised (a metric), by type. */
  onRaised?: (type: EventType) => void;
}

/**
 * The one path every event takes, whoever raises it: checked against its type in the
 * catalogue, logged, counted, and appended to the event log for webhooks. Raising never
 * fails or waits on the caller's work: a lost event is logged, and the change it tells of
 * stands.
 */
export class EventPublisher {
  private onRaised: (type: EventType) => void;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: EventPublisherOptions) {
    this.onRaised = options.onRaised ?? (() => {});
  }

  /** Where the count goes, once the metrics registry exists. */
  countWith(onRaised: (type: EventType) => void): void {
    this.onRaised = onRaised;
  }

  publish<T extends EventType>(type: T, tenantId: string | null, data: EventData<T>): void {
    // A payload that drifted from its documented schema is a bug of ours: say so loudly,
    // but still deliver what there is.
    if (!Value.Check(EVENT_TYPES[type].data, data))
      this.options.logger.error({ event: type }, 'event data does not match its schema');
    this.onRaised(type);
    this.options.logger.warn({ event: type, tenantId, ...data }, 'event');
    const event: NewEvent = { type, tenantId, data: data as Record<string, unknown> };
    const appended = this.options.log
      .append(event)
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, event }, 'event not recorded');
      })
      .finally(() => this.pending.delete(appended));
    this.pending.add(appended);
  }

  /** Waits until what was raised so far is appended (or given up): before the log closes. */
  async drain(): Promise<void> {
    await Promise.all(this.pending);
  }
}
