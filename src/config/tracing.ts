import { type Env, readSecret } from './env.js';

/** How the sampler decides which requests are traced (OTel's OTEL_TRACES_SAMPLER values). */
export type TraceSampler =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

const SAMPLERS: readonly TraceSampler[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

export interface TracingConfig {
  /** OTEL_TRACES_EXPORTER=otlp: spans are made and exported; off, the request path does none. */
  enabled: boolean;
  /** The full URL spans are POSTed to (OTLP/HTTP, JSON). */
  endpoint: string;
  /** Headers sent with each export (a collector's or a vendor's token): never logged. */
  headers: Readonly<Record<string, string>>;
  serviceName: string;
  sampler: TraceSampler;
  /** The share of traces kept by the `traceidratio` samplers, 0 to 1. */
  ratio: number;
}

const DEFAULT_BASE = 'http://localhost:4318';

/**
 * OpenTelemetry's own variable names, so a collector's usual settings work unchanged. Only
 * what this gateway implements is accepted: the OTLP exporter over HTTP with JSON bodies.
 */
export function readTracing(env: Env, errors: string[]): TracingConfig {
  const exporter = env.OTEL_TRACES_EXPORTER || 'none';
  if (exporter !== 'none' && exporter !== 'otlp')
    errors.push(`OTEL_TRACES_EXPORTER must be otlp or none, got '${exporter}'`);
  const disabled = env.OTEL_SDK_DISABLED === 'true';
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const protocol = env[name];
    if (protocol !== undefined && protocol !== '' && protocol !== 'http/json')
      errors.push(
        `${name} must be http/json (the protocol this gateway exports), got '${protocol}'`,
      );
  }
  return {
    enabled: exporter === 'otlp' && !disabled,
    endpoint: endpoint(env, errors),
    headers: headers(env, errors),
    serviceName: env.OTEL_SERVICE_NAME || 'llm-backend',
    ...sampling(env, errors),
  };
}

function endpoint(env: Env, errors: string[]): string {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
  // The per-signal variable is the whole URL; the general one is a base the path goes after.
  const [name, value] =
    traces !== undefined
      ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', traces]
      : ['OTEL_EXPORTER_OTLP_ENDPOINT', `${(base ?? DEFAULT_BASE).replace(/\/+$/, '')}/v1/traces`];
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      errors.push(`${name} must be an http:// or https:// URL`);
  } catch {
    errors.push(`${name} is not a valid URL`);
  }
  return value;
}

/** `key=value,key2=value2`, values percent-encoded, as OTel's exporters read them. */
function headers(env: Env, errors: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    const raw = readSecret(env, name, errors);
    if (raw === undefined) continue;
    for (const pair of raw.split(',')) {
      if (pair.trim() === '') continue;
      const at = pair.indexOf('=');
      const key = pair.slice(0, at).trim();
      let value: string | null = null;
      try {
        value = at > 0 ? decodeURIComponent(pair.slice(at + 1).trim()) : null;
      } catch {}
      // The values are credentials: the message names the variable, never the content.
      if (value === null || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key)) {
        errors.push(`${name} must be key=value pairs separated by commas`);
        break;
      }
      result[key.toLowerCase()] = value;
    }
  }
  return result;
}

function sampling(env: Env, errors: string[]): { sampler: TraceSampler; ratio: number } {
  const sampler = (env.OTEL_TRACES_SAMPLER || 'parentbased_always_on') as TraceSampler;
  if (!SAMPLERS.includes(sampler))
    errors.push(`OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(', ')}, got '${sampler}'`);
  const raw = env.OTEL_TRACES_SAMPLER_ARG;
  if (raw === undefined || raw === '') return { sampler, ratio: 1 };
  const ratio = Number(raw);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    errors.push(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got '${raw}'`);
    return { sampler, ratio: 1 };
  }
  return { sampler, ratio };
}
