import { describe, expect, it } from 'vitest';
import {
  estimateChatPrompt,
  estimateTokens,
  messageText,
} from '../../src/services/inference/estimate.js';

describe('token estimates', () => {
  it('count ordinary text exactly with o200k_base', async () => {
    expect(await estimateTokens('Hello world')).toBe(2);
    expect(await estimateTokens(['Hello', ' world'])).toBe(2);
  });

  it('add the per-message framing for chat prompts', async () => {
    const one = await estimateChatPrompt({ messages: [{ role: 'user', content: 'Hello world' }] });
    // 3 for the reply, 3 for the message, 1 for the role, 2 for the content.
    expect(one).toBe(9);
    const withImage = await estimateChatPrompt({
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:...' } }] },
      ],
    });
    expect(withImage).toBe(3 + 3 + 1 + 85);
  });

  it('read generated text from content, refusal and tool calls', () => {
    expect(
      messageText({
        content: 'a',
        refusal: 'b',
        tool_calls: [{ function: { name: 'f', arguments: '{}' } }],
      }),
    ).toBe('abf{}');
    expect(messageText(null)).toBe('');
  });

  // Pathological inputs used to take minutes (BPE is quadratic in a word's length); the
  // bound here is on the result, and the suite's timeout catches a regression in time.
  it('stay close on long runs and huge texts without stalling', async () => {
    const run = await estimateTokens('x'.repeat(100_000));
    expect(run).toBeGreaterThan(10_000);
    expect(run).toBeLessThan(40_000);
    const prose = 'The quick brown fox jumps over the lazy dog. '.repeat(20_000);
    const exactPerRepeat = await estimateTokens(
      'The quick brown fox jumps over the lazy dog. '.repeat(10),
    );
    const estimate = await estimateTokens(prose);
    expect(estimate / ((exactPerRepeat / 10) * 20_000)).toBeCloseTo(1, 1);
  }, 10_000);
});
