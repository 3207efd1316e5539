import { request } from 'undici';
import { Loop } from '../../utils/loop.js';
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
  private readonly loop: Loop;

  constructor(private readonly options: LogSinkOptions) {
    this.loop = new Loop(
      () => this.once(),
      (error) => options.log.warn({ err: error }, 'log stream unreachable; retrying'),
    );
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.options.feed.close();
  }

  private async once(): Promise<void> {
    const { feed, consumer, batch = 500 } = this.options;
    const fed = await feed.read(consumer, batch, 1000);
    // A sink that refused waits a moment; its batch comes back after the claim time.
    if (fed.length > 0 && !(await this.ship(fed))) await pause(1000);
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
