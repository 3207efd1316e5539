import { randomBytes } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { checkEventTypes, matchesEventType } from '../../src/services/webhooks/event-types.js';
import { MAX_ATTEMPTS, retryDelayMs } from '../../src/services/webhooks/retry-schedule.js';
import { SecretBox } from '../../src/services/webhooks/secret-box.js';
import { newWebhookSecret, signedHeaders } from '../../src/services/webhooks/signing.js';
import { UrlGuard } from '../../src/services/webhooks/url-guard.js';
import { isPublicAddress, parseIp } from '../../src/utils/ip-ranges.js';

describe('public addresses', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
    '2002:a00:1::',
  ])('%s is not public', (address) => {
    const ip = parseIp(address);
    expect(ip).not.toBeNull();
    expect(isPublicAddress(ip as Uint8Array)).toBe(false);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
  ])('%s is public', (address) => {
    expect(isPublicAddress(parseIp(address) as Uint8Array)).toBe(true);
  });

  it('reads no hostnames or malformed addresses as addresses', () => {
    for (const text of ['localhost', '1.2.3', '1.2.3.256', '1::2::3', 'gggg::1', ''])
      expect(parseIp(text), text).toBeNull();
  });
});

function lookup(guard: UrlGuard, host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) =>
    guard.lookup(host, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses as LookupAddress[]),
    ),
  );
}

describe('UrlGuard', () => {
  it('refuses written-out private addresses and other schemes without any lookup', () => {
    const guard = new UrlGuard();
    for (const url of ['http://127.0.0.1/', 'https://[::1]/', 'http://0177.0.0.1/', 'file:///x'])
      expect(() => guard.parse(url), url).toThrow(
        expect.objectContaining({ code: 'webhook_url_refused' }),
      );
    expect(guard.parse('https://8.8.8.8/hook').hostname).toBe('8.8.8.8');
  });

  it('lets the allow-list name hosts, addresses and ranges', async () => {
    const guard = new UrlGuard({ allowedHosts: ['10.0.0.0/8', '::1', 'LocalHost'] });
    expect(guard.parse('http://10.1.2.3/').hostname).toBe('10.1.2.3');
    expect(guard.parse('http://[::1]:8080/').port).toBe('8080');
    expect(() => guard.parse('http://192.168.0.1/')).toThrow();
    await expect(guard.check('http://localhost/')).resolves.toBeInstanceOf(URL);
  });

  it('refuses, at connect time, a name that resolves to a private address', async () => {
    await expect(lookup(new UrlGuard(), 'localhost')).rejects.toMatchObject({
      code: 'WEBHOOK_ADDRESS_REFUSED',
    });
    const allowed = await lookup(new UrlGuard({ allowedHosts: ['localhost'] }), 'localhost');
    expect(allowed.length).toBeGreaterThan(0);
  });
});

describe('signatures', () => {
  const body = JSON.stringify({
    type: 'webhook.test',
    timestamp: new Date().toISOString(),
    data: {},
  });

  it('verify with the standardwebhooks library, for every secret signed with', () => {
    const [current, previous, other] = [newWebhookSecret(), newWebhookSecret(), newWebhookSecret()];
    const headers = signedHeaders('evt_1', new Date(), body, [current, previous]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(current).verify(body, { ...headers })).toMatchObject({
      type: 'webhook.test',
    });
    expect(new Webhook(previous).verify(body, { ...headers })).toMatchObject({
      type: 'webhook.test',
    });
    expect(() => new Webhook(other).verify(body, { ...headers })).toThrow();
    expect(() => new Webhook(current).verify(`${body} `, { ...headers })).toThrow();
  });

  it('matches exact types and prefixes only', () => {
    expect(matchesEventType(['quota.*'], 'quota.exhausted')).toBe(true);
    expect(matchesEventType(['quota.*'], 'quotas.exhausted')).toBe(false);
    expect(matchesEventType(['api_key.created'], 'api_key.revoked')).toBe(false);
    expect(matchesEventType(['alert.*', 'api_key.revoked'], 'api_key.revoked')).toBe(true);
  });

  it('takes any well-formed type or prefix, known or not, once each', () => {
    expect(
      checkEventTypes(['quota.*', 'api_key.revoked', 'not_raised.yet', 'future.*', 'quota.*']),
    ).toEqual(['quota.*', 'api_key.revoked', 'not_raised.yet', 'future.*']);
  });

  it.each([
    ['API_KEY.Revoked', "Did you mean 'api_key.revoked'?"],
    [' quota.* ', "Did you mean 'quota.*'?"],
    ['alert-error_rate.resolved', null],
    ['alert.error-rate', "Did you mean 'alert.error_rate'?"],
    ['Made.Up', null],
    ['quota.*.exhausted', null],
  ])('refuses %j, naming the catalogue type it was meant as', (type, hint) => {
    const error = (() => {
      try {
        checkEventTypes([type]);
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(error).toMatchObject({ code: 'invalid_request', param: 'event_types' });
    const message = (error as Error).message;
    expect(message).toContain(`'${type}' is not an event type`);
    if (hint === null) expect(message).not.toContain('Did you mean');
    else expect(message).toContain(hint);
  });
});

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('opens what it sealed, for the same row only', () => {
    const secret = newWebhookSecret();
    const sealed = box.seal(secret, 'whk_1');
    expect(sealed).not.toContain(secret.slice(6));
    expect(box.seal(secret, 'whk_1')).not.toBe(sealed);
    expect(box.open(sealed, 'whk_1')).toBe(secret);
    expect(() => box.open(sealed, 'whk_2')).toThrow();
    const [version, keyId, iv, data] = sealed.split('.') as [string, string, string, string];
    const flipped = `${data.slice(0, -2)}${data.at(-2) === 'A' ? 'B' : 'A'}${data.at(-1)}`;
    expect(() => box.open([version, keyId, iv, flipped].join('.'), 'whk_1')).toThrow();
  });

  it('says when another master key sealed it', () => {
    const sealed = new SecretBox(randomBytes(32)).seal('whsec_x', 'whk_1');
    expect(() => box.open(sealed, 'whk_1')).toThrow(/another master key/);
  });
});

describe('retry schedule', () => {
  it('waits at most base × 5^(n−1) after the n-th failure, and stops after the last', () => {
    const longest = (attempts: number) => retryDelayMs(attempts, 5000, () => 0.999_999);
    expect([1, 2, 3].map(longest)).toEqual([4999, 24_999, 124_999]);
    expect(retryDelayMs(1, 5000, () => 0)).toBe(0);
    expect(longest(MAX_ATTEMPTS)).toBeNull();
    let total = 0;
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) total += longest(attempt) ?? 0;
    // About 27 hours from the first attempt to the last, at most.
    expect(total / 3_600_000).toBeGreaterThan(26);
    expect(total / 3_600_000).toBeLessThan(28);
  });
});

describe('webhook settings', () => {
  it('has defaults, and lists every bad allow-list entry', () => {
    const env = readEnv({}, []);
    expect([env.webhookTimeoutMs, env.webhookRetryBaseMs, env.webhookWorkers]).toEqual([
      5000, 5000, 1,
    ]);
    expect(env.webhookAllowedHosts).toEqual([]);
    const errors: string[] = [];
    const read = readEnv(
      { WEBHOOK_ALLOWED_HOSTS: ' hooks.internal, 10.0.0.0/8,fd00::/8 ' },
      errors,
    );
    expect(errors).toEqual([]);
    expect(read.webhookAllowedHosts).toEqual(['hooks.internal', '10.0.0.0/8', 'fd00::/8']);
    readEnv({ WEBHOOK_ALLOWED_HOSTS: 'http://x, 10.0.0.0/33' }, errors);
    expect(errors).toEqual([
      expect.stringMatching(/WEBHOOK_ALLOWED_HOSTS.*'http:\/\/x', '10.0.0.0\/33'/),
    ]);
  });
});
