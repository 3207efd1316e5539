import { describe, expect, it } from 'vitest';
import { StreamCursor } from '../../src/services/dedup/resume.js';
import { textChunks } from '../helpers/fake-upstream.js';

const data = (events: Record<string, unknown>[]) => events.map((event) => JSON.stringify(event));

/** The text and finish reasons of what the cursor lets through. */
function delivered(cursor: StreamCursor, chunks: string[]) {
  let text = '';
  const finishes: unknown[] = [];
  let chunksOut = 0;
  for (const chunk of chunks) {
    const out = cursor.next(chunk);
    if (out === null) continue;
    chunksOut++;
    const parsed = JSON.parse(out) as {
      choices: { delta?: { content?: string }; text?: string; finish_reason?: unknown }[];
    };
    for (const choice of parsed.choices) {
      text += choice.delta?.content ?? choice.text ?? '';
      if (choice.finish_reason) finishes.push(choice.finish_reason);
    }
  }
  return { text, finishes, chunksOut };
}

describe('StreamCursor', () => {
  it('passes a single leader through unchanged', () => {
    const cursor = new StreamCursor();
    const chunks = data(textChunks(['a', 'b', 'c'], { usage: true }));
    for (const chunk of chunks) expect(cursor.next(chunk)).toBe(chunk);
  });

  it("continues a new leader's stream after what was delivered, chunk sizes aside", () => {
    const cursor = new StreamCursor();
    const first = data(textChunks(['Hel', 'lo ', 'wor', 'ld']));
    expect(delivered(cursor, first.slice(0, 3)).text).toBe('Hello ');
    cursor.restart();
    // The second leader splits the same text differently.
    const second = data(textChunks(['H', 'ello w', 'orld'], { usage: true }));
    const rest = delivered(cursor, second);
    expect(rest.text).toBe('world');
    expect(rest.finishes).toEqual(['stop']);
  });

  it('keeps each choice at its own position', () => {
    const cursor = new StreamCursor();
    const zero = data(textChunks(['aa', 'bb'], { index: 0 }));
    const one = data(textChunks(['xx', 'yy'], { index: 1 }));
    delivered(cursor, [zero[0], zero[1], one[0], one[1], one[2]] as string[]);
    cursor.restart();
    const rest = delivered(cursor, [...zero, ...one]);
    expect(rest.text).toBe('bb');
    expect(rest.finishes).toEqual(['stop', 'stop']);
  });

  it('cannot resume a stream that delivered tool calls', () => {
    const cursor = new StreamCursor();
    const call = {
      choices: [
        {
          index: 0,
          delta: { tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] },
          finish_reason: null,
        },
      ],
    };
    cursor.next(JSON.stringify(call));
    expect(cursor.resumable).toBe(false);
  });
});
