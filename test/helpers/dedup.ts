import type OpenAI from 'openai';
import type { Counter } from 'prom-client';
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
  const metric = root.metrics.getSingleMetric(`dedup_${name}_total`) as Counter | undefined;
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
