import type OpenAI from 'openai';
import type { Counter } from 'prom-client';
import {
  chatCompletion,
  type FakeUpstream,
  json,
  newGate,
  sse,
  textChunks,
} from './fake-upstream.js';
import type { TestGateway } from './gateway.js';
import type { TestServices } from './tenant-services.js';

/** A chat request whose answer does not vary (temperature 0): one that is shared. */
export function sharedBody(content: string) {
  return {
    model: 'gpt-test',
    messages: [{ role: 'user' as const, content }],
    temperature: 0,
  };
}

/** A dedup counter of the instance (`leaders`, `followers`, `takeovers`). */
export async function dedupCount(
  gateway: TestGateway,
  name: 'leaders' | 'followers' | 'takeovers',
): Promise<number> {
  // The gateway's services are the test's: composed with their root.
  const { root } = gateway.services as TestServices;
  const metric = root.metrics.getSingleMetric(`llm_backend_dedup_${name}_total`) as
    | Counter
    | undefined;
  if (metric === undefined) throw new Error(`no dedup_${name}_total metric`);
  return (await metric.get()).values[0]?.value ?? 0;
}

/** A stream's text and whether a usage chunk came, read through the SDK. */
export async function readStream(
  stream: AsyncIterable<OpenAI.ChatCompletionChunk>,
): Promise<{ text: string; usage: boolean; finish: string | null }> {
  let text = '';
  let usage = false;
  let finish: string | null = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = true;
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
  }
  return { text, usage, finish };
}

type Gate = ReturnType<typeof newGate>;

/** Every request is answered `content`, but only once the returned gate opens. */
export function heldJson(upstream: FakeUpstream, content: string): Gate {
  const gate = newGate();
  upstream.always(async (_req, res) => {
    await gate.opened;
    json(res, 200, chatCompletion(content));
  });
  return gate;
}

/** Every request is answered as a stream of `pieces` (usage last), once the gate opens. */
export function heldStream(upstream: FakeUpstream, pieces: string[]): Gate {
  const gate = newGate();
  upstream.always(async (_req, res) => {
    await gate.opened;
    await sse(res, textChunks(pieces, { usage: true }));
  });
  return gate;
}
