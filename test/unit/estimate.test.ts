import { describe, expect, it } from 'vitest';
import {
  estimateChatPrompt,
  estimateTokens,
  messageText,
  promptTokensBound,
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

  // Reservations count bytes instead of tokens: never fewer than the tokenizer would count.
  it('bound the prompt from above without the tokenizer, whatever the script or symbols', async () => {
    const texts = [
      'Hello world',
      'The quick brown fox jumps over the lazy dog. '.repeat(50),
      '東京は日本の首都です。漢字とひらがなとカタカナ。',
      'Привет, как дела? Ελληνικά κείμενα. עברית. العربية.',
      '🙂🚀👩‍👩‍👧‍👦 emoji and flags 🇫🇷🇯🇵',
      'const x = { a: [1, 2, 3], b: "\\u00e9" }; // code\n\t\tindent',
      '<|endoftext|><|im_start|>special strings as text',
      ' '.repeat(500),
      'a',
      String.fromCharCode(...Array.from({ length: 2000 }, (_, i) => 32 + ((i * 7919) % 20000))),
    ];
    for (const content of texts) {
      const body = { messages: [{ role: 'user', content }], tools: [{ type: 'function' }] };
      expect(promptTokensBound('chat', body)).toBeGreaterThanOrEqual(
        await estimateChatPrompt(body),
      );
      expect(promptTokensBound('completions', { prompt: content })).toBeGreaterThanOrEqual(
        await estimateTokens(content),
      );
      expect(promptTokensBound('embeddings', { input: [content, content] })).toBeGreaterThanOrEqual(
        await estimateTokens([content, content]),
      );
    }
  });
});
