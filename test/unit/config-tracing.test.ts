import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/env.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const scratch = mkdtempSync(join(tmpdir(), 'llm-backend-tracing-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function problemsOf(env: Env): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('the OTEL_* settings', () => {
  it('leave tracing off by default, with the OTel defaults ready for when it is on', () => {
    expect(loadConfig({}).tracing).toEqual({
      enabled: false,
      endpoint: 'http://localhost:4318/v1/traces',
      headers: {},
      serviceName: 'llm-backend',
      sampler: 'parentbased_always_on',
      ratio: 1,
    });
  });

  it('turn tracing on with OTEL_TRACES_EXPORTER=otlp, the base endpoint getting /v1/traces', () => {
    const { tracing } = loadConfig({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_SERVICE_NAME: 'gateway-eu',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    expect(tracing).toMatchObject({
      enabled: true,
      endpoint: 'http://collector:4318/v1/traces',
      serviceName: 'gateway-eu',
      sampler: 'parentbased_traceidratio',
      ratio: 0.25,
    });
  });

  it('take the traces endpoint as the whole URL, before the base one', () => {
    const { tracing } = loadConfig({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/ingest',
    });
    expect(tracing.endpoint).toBe('https://traces.example.com/ingest');
  });

  it('read export headers from the variables or a file, the traces ones winning', () => {
    const file = join(scratch, 'headers');
    writeFileSync(file, 'x-team=gateway\n');
    const { tracing } = loadConfig({
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20abc,x-team=all',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS_FILE: file,
    });
    expect(tracing.headers).toEqual({ authorization: 'Bearer abc', 'x-team': 'gateway' });
  });

  it('are switched off altogether by OTEL_SDK_DISABLED=true', () => {
    const env = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' };
    expect(loadConfig(env).tracing.enabled).toBe(false);
  });

  it('list every bad value at once, never echoing a header value', () => {
    const problems = problemsOf({
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://collector/traces',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_TRACES_SAMPLER: 'sometimes',
      OTEL_TRACES_SAMPLER_ARG: '1.5',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key-without-value-s3cr3t',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        "OTEL_TRACES_EXPORTER must be otlp or none, got 'zipkin'",
        'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http:// or https:// URL',
        "OTEL_EXPORTER_OTLP_PROTOCOL must be http/json (the protocol this gateway exports), got 'grpc'",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be http/json (the protocol this gateway exports), got 'http/protobuf'",
        expect.stringContaining(
          "OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, got 'sometimes'",
        ),
        "OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got '1.5'",
        'OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas',
      ]),
    );
    expect(problems.join('\n')).not.toContain('s3cr3t');
  });

  it('refuse an endpoint that is not a URL', () => {
    expect(problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toContain(
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL',
    );
    expect(problemsOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' })).toContain(
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not a valid URL',
    );
  });
});
