import { Agent, request } from 'undici';
import type { AttemptOutcome } from './delivery-attempts.js';
import type { UrlGuard } from './url-guard.js';

/** What a receiver's answer may weigh: read and thrown away, only its status counts. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_ERROR_LENGTH = 500;

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

function describe(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error).slice(0, MAX_ERROR_LENGTH);
  if (error.name === 'TimeoutError' || error.name === 'AbortError')
    return `timed out after ${timeoutMs} ms`;
  // undici wraps the socket's failure (our refused lookup among them) in its cause.
  const cause = error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown }).code;
  const text = typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
  return text.slice(0, MAX_ERROR_LENGTH);
}

/**
 * Makes one attempt: a POST that must answer within the timeout, through sockets whose
 * every address the URL guard checked. Redirects are not followed (a 3xx is a failure), so
 * a receiver cannot bounce the call to an address the guard would refuse.
 */
export class WebhookSender {
  private readonly agent: Agent;

  constructor(private readonly options: { guard: UrlGuard; timeoutMs: number; userAgent: string }) {
    this.agent = new Agent({
      connect: { lookup: options.guard.lookup, timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  async send(message: WebhookRequest): Promise<AttemptOutcome> {
    const at = new Date();
    const started = performance.now();
    const outcome = (statusCode: number | null, error: string | null): AttemptOutcome => ({
      at,
      statusCode,
      error,
      durationMs: performance.now() - started,
    });
    try {
      // Addresses written in the URL reach no lookup: checked here instead.
      this.options.guard.parse(message.url);
    } catch (error) {
      return outcome(null, (error as Error).message);
    }
    try {
      const response = await request(message.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          ...message.headers,
          'content-type': 'application/json',
          'user-agent': this.options.userAgent,
        },
        body: message.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.body.dump({ limit: MAX_RESPONSE_BYTES }).catch(() => {});
      return outcome(response.statusCode, null);
    } catch (error) {
      return outcome(null, describe(error, this.options.timeoutMs));
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
