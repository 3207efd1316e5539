import { afterEach, describe, expect, it, vi } from 'vitest';
import { json } from '../helpers/fake-upstream.js';
import { eventually, useUpstreamGateway } from '../helpers/gateway.js';

/** Every 5xx logs its cause at error level, a request with a body included. */
const { upstream, gateway } = useUpstreamGateway();

afterEach(() => vi.restoreAllMocks());

function failureLine(requestId: string | null) {
  return eventually(() => {
    const line = gateway.logs.find(
      (log) => log.requestId === requestId && log.msg === 'request failed',
    );
    if (line === undefined) throw new Error(`no 'request failed' line for ${requestId}`);
    return line;
  });
}

describe('a 500 on a request with a body', () => {
  it('is logged at error level with its cause', async () => {
    vi.spyOn(gateway.services.limitRules, 'set').mockRejectedValueOnce(
      new Error('limit table is on fire'),
    );
    const response = await gateway.fetch('/admin/v1/tenants/test/limits', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${gateway.adminKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ scope: 'tenant', requests_per_minute: 5 }),
    });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('internal_error');
    // The cause stays in the log, never in the answer.
    expect(body.error.message).not.toContain('on fire');
    const line = await failureLine(response.headers.get('x-request-id'));
    expect(line.level).toBe(50);
    expect(line.err).toMatchObject({ message: 'limit table is on fire' });
  });

  it('is logged for a chat completion whose upstream fails', async () => {
    upstream.next((_req, res) => json(res, 500, { error: { message: 'gpu melted' } }));
    const response = await gateway.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(response.status).toBe(502);
    const line = await failureLine(response.headers.get('x-request-id'));
    expect(line.level).toBe(50);
    expect(line.err).toMatchObject({ type: 'GatewayError' });
  });
});
