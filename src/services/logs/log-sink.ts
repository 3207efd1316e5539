import { request } from 'undici';
import type { EventFeed, FedEvent } from '../events/event-feed.js';

export interface LogSinkLog {
  warn(details: object, message: string): void;
}

export interface LogSinkOptions {
  /** The log stream read through the `log-sink` group. */
  feed: EventFeed;
  /** Where batches go: a POST of newline-delimited JSON (Vector, Loki, Elasticsearch...). */
  url: string;
  consumer: string;
  log: LogSinkLog;
  timeoutMs?: number;
  batch?: number;
}

/** The consumer group log sinks share on the log stream. */
export const LOG_SINK_GROUP = 'log-sink';

/**
 * Ships the log stream to a sink in batches, acknowledging a batch only once the sink took
 * it (2xx): a sink that is down leaves the batch in the group, and it is sent again after
 * the claim time, by this worker or another.
 */
export class LogSink {
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(private readonly options: LogSinkOptions) {}

  start(): void {
    this.stopping = false;
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.running = null;
    await this.options.feed.close();
  }

  private async loop(): Promise<void> {
    const { feed, consumer, log, batch = 500 } = this.options;
    while (!this.stopping) {
      try {
        const fed = await feed.read(consumer, batch, 1000);
        if (fed.length > 0 && !(await this.ship(fed))) await pause(1000);
      } catch (error) {
        if (this.stopping) break;
        log.warn({ err: error }, 'log stream unreachable; retrying');
        await pause(1000);
      }
    }
  }

  private async ship(fed: FedEvent[]): Promise<boolean> {
    const { feed, url, timeoutMs = 10_000, log } = this.options;
    const lines = fed.flatMap(({ event }) =>
      event === null ? [] : [JSON.stringify({ ...event, at: event.at.toISOString() })],
    );
    try {
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: `${lines.join('\n')}\n`,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body.dump().catch(() => {});
      if (response.statusCode >= 300) {
        log.warn({ status: response.statusCode, entries: fed.length }, 'log sink refused a batch');
        return false;
      }
    } catch (error) {
      log.warn({ err: error, entries: fed.length }, 'log sink unreachable');
      return false;
    }
    await feed.ack(fed.map((item) => item.entryId));
    return true;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
