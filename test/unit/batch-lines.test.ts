import { describe, expect, it } from 'vitest';
import {
  errorLine,
  inputLines,
  outputLine,
  parseBatchLine,
} from '../../src/services/batches/batch-lines.js';

const chat = {
  custom_id: 'a-1',
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
};

describe('batch input lines', () => {
  it('accepts a well-formed line for the batch endpoint', () => {
    expect(parseBatchLine(JSON.stringify(chat), 3, '/v1/chat/completions')).toEqual({
      ok: true,
      line: { index: 3, customId: 'a-1', url: '/v1/chat/completions', body: chat.body },
    });
  });

  it('turns each kind of bad line into an error naming the line, keeping its custom_id', () => {
    const cases: [string, string | null, string][] = [
      ['{not json', null, 'invalid_json_line'],
      ['[1,2]', null, 'invalid_request'],
      [JSON.stringify({ ...chat, custom_id: undefined }), null, 'missing_required_parameter'],
      [JSON.stringify({ ...chat, custom_id: '' }), null, 'missing_required_parameter'],
      [JSON.stringify({ ...chat, method: 'GET' }), 'a-1', 'invalid_request'],
      [JSON.stringify({ ...chat, url: '/v1/images/generations' }), 'a-1', 'invalid_url'],
      [JSON.stringify({ ...chat, url: '/v1/embeddings' }), 'a-1', 'mismatched_endpoint'],
      [JSON.stringify({ ...chat, body: 'text' }), 'a-1', 'invalid_request'],
      [JSON.stringify({ ...chat, url: 'constructor' }), 'a-1', 'invalid_url'],
    ];
    for (const [text, customId, code] of cases) {
      const parsed = parseBatchLine(text, 6, '/v1/chat/completions');
      expect(parsed.ok, text).toBe(false);
      if (parsed.ok) continue;
      expect([parsed.error.index, parsed.error.customId, parsed.error.code], text).toEqual([
        6,
        customId,
        code,
      ]);
      expect(parsed.error.message).toContain('Line 7');
    }
  });

  it('reads the non-blank lines with their place in the file, CRLF or LF', () => {
    expect([...inputLines('a\r\n\r\nb\n  \nc')]).toEqual([
      [0, 'a'],
      [2, 'b'],
      [4, 'c'],
    ]);
  });

  it("writes output and error lines in OpenAI's format", () => {
    expect(
      JSON.parse(
        outputLine('batch_req_1', 'a-1', { statusCode: 200, requestId: 'req_1', body: {} }),
      ),
    ).toEqual({
      id: 'batch_req_1',
      custom_id: 'a-1',
      response: { status_code: 200, request_id: 'req_1', body: {} },
      error: null,
    });
    expect(
      JSON.parse(
        errorLine('batch_req_2', {
          index: 0,
          customId: null,
          code: 'invalid_json_line',
          message: 'm',
        }),
      ),
    ).toEqual({
      id: 'batch_req_2',
      custom_id: null,
      response: null,
      error: { code: 'invalid_json_line', message: 'm' },
    });
  });
});
