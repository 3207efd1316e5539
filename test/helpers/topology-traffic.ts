import OpenAI from 'openai';

/**
 * What one request through the topology came to: an answer (with the request id the
 * gateway's `x-request-id` header gave it), a refusal (429), or cut (the connection or the
 * gateway behind the balancer went away: no answer, so not counted as answered).
 */
export type Outcome =
  | { kind: 'answered'; requestId: string; content: string }
  | { kind: 'refused'; code: string | null }
  | { kind: 'cut'; detail: string };

type Body = OpenAI.ChatCompletionCreateParamsNonStreaming;

export async function send(client: OpenAI, body: Body): Promise<Outcome> {
  try {
    const { data, response } = await client.chat.completions.create(body).withResponse();
    return {
      kind: 'answered',
      requestId: response.headers.get('x-request-id') ?? '',
      content: data.choices[0]?.message.content ?? '',
    };
  } catch (error) {
    if (error instanceof OpenAI.RateLimitError)
      return { kind: 'refused', code: error.code ?? null };
    // Anything else an answer never came for: a 502 from the balancer, a reset connection.
    return { kind: 'cut', detail: String(error) };
  }
}

/** Outcomes settled so far, by kind, while the requests are still under way. */
export class Tally {
  readonly settled: Outcome[] = [];
  private readonly pending: Promise<Outcome>[] = [];

  add(request: Promise<Outcome>): void {
    this.pending.push(
      request.then((outcome) => {
        this.settled.push(outcome);
        return outcome;
      }),
    );
  }

  count(kind: Outcome['kind']): number {
    return this.settled.filter((outcome) => outcome.kind === kind).length;
  }

  answeredIds(): string[] {
    return this.settled.flatMap((o) => (o.kind === 'answered' ? [o.requestId] : []));
  }

  async all(): Promise<Outcome[]> {
    return Promise.all(this.pending);
  }
}

/** Requests one after another on `lanes` lanes until stopped: steady load across a fault. */
export function steadyLoad(client: OpenAI, lanes: number, body: (n: number) => Body) {
  const tally = new Tally();
  let stopping = false;
  let n = 0;
  const loops = Array.from({ length: lanes }, async () => {
    while (!stopping) {
      const request = send(client, body(n++));
      tally.add(request);
      await request;
    }
  });
  return {
    tally,
    async stop(): Promise<void> {
      stopping = true;
      await Promise.all(loops);
      await tally.all();
    },
  };
}

/** A counter's value on a gateway's /metrics page (the sum over its series). */
export async function metricOf(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Sends a request every 20 ms until one fails, for at most `deadlineMs` (a generous poll,
 * not a timing window): which attempt failed, with what, and when (performance.now()).
 */
export async function untilRefused(client: OpenAI, deadlineMs: number) {
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await client.chat.completions.create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'still let in?' }],
        max_tokens: 5,
      });
    } catch (error) {
      return { attempt, error, at: performance.now() };
    }
    if (performance.now() - started > deadlineMs) throw new Error('still answered at the deadline');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
