import { UpstreamError, type UpstreamFailure } from '../errors.js';

/**
 * A request the bridge cannot translate (bad tool arguments, an unsupported parameter). It
 * becomes an upstream 400 with an OpenAI-shaped body, as if the upstream had refused it.
 */
export class InvalidRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'InvalidRequest';
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openAIErrorBody(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields => value !== null && typeof value === 'object';

/** The error and what it wraps: LangChain puts the SDK's error under `cause` at times. */
function chain(error: unknown): Fields[] {
  const found: Fields[] = [];
  for (let at = error; isObject(at) && found.length < 5; at = at.cause) found.push(at);
  return found;
}

function httpStatus(error: Fields): number | null {
  const response = isObject(error.response) ? error.response.status : undefined;
  const metadata = isObject(error.$metadata) ? error.$metadata.httpStatusCode : undefined;
  for (const value of [error.status, error.statusCode, response, metadata]) {
    if (typeof value === 'number' && value >= 400 && value < 600) return value;
  }
  return null;
}

function header(headers: unknown, name: string): string | null {
  if (!isObject(headers)) return null;
  if (typeof headers.get === 'function') {
    const value: unknown = headers.get(name);
    return typeof value === 'string' ? value : null;
  }
  const value = headers[name];
  return typeof value === 'string' ? value : null;
}

/** Gemini has no retry-after header; it says when in a google.rpc.RetryInfo detail ("7s"). */
function retryInfoSeconds(details: unknown): string | null {
  if (!Array.isArray(details)) return null;
  for (const detail of details) {
    const delay = isObject(detail) ? detail.retryDelay : undefined;
    const seconds = typeof delay === 'string' ? Number.parseFloat(delay) : Number.NaN;
    if (Number.isFinite(seconds)) return String(Math.ceil(seconds));
  }
  return null;
}

function retryAfter(errors: Fields[]): string | null {
  for (const error of errors) {
    const response = isObject(error.response) ? error.response.headers : undefined;
    const value =
      header(error.headers, 'retry-after') ??
      header(response, 'retry-after') ??
      retryInfoSeconds(error.errorDetails);
    if (value !== null) return value;
  }
  return null;
}

/** The upstream's own message and type, without what LangChain and the SDKs add around it. */
function upstreamMessage(error: Fields): { message: string; type: string | null } {
  // Anthropic's SDK keeps the parsed body: {type: 'error', error: {type, message}}.
  const body = isObject(error.error) ? error.error : null;
  const inner = body !== null && isObject(body.error) ? body.error : body;
  if (inner !== null && typeof inner.message === 'string') {
    return { message: inner.message, type: typeof inner.type === 'string' ? inner.type : null };
  }
  let message = typeof error.message === 'string' ? error.message : 'Upstream error';
  message = message.replace(/\s*Troubleshooting URL:[\s\S]*$/, '');
  // Google's SDK: "Error fetching from URL: [429 Too Many Requests] Resource exhausted [details]".
  const google = /\[\d{3}[^\]]*\]\s*([\s\S]*)$/.exec(message);
  if (google?.[1] !== undefined) message = google[1].replace(/\s*\[\{[\s\S]*$/, '');
  return { message: message.replace(/^\d{3}\s+/, '') || 'Upstream error', type: null };
}

const CONTEXT_LENGTH =
  /prompt is too long|context (length|window)|maximum context|input token count.*exceeds|too many (input )?tokens/i;

function defaultType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function httpFailure(status: number, errors: Fields[]): UpstreamFailure {
  const source = errors.find((error) => httpStatus(error) !== null) ?? (errors[0] as Fields);
  const { message, type } = upstreamMessage(source);
  const overflow =
    errors.some((error) => error.name === 'ContextOverflowError') || CONTEXT_LENGTH.test(message);
  let code: string | null = null;
  if (overflow && status < 500) code = 'context_length_exceeded';
  else if (status === 429) code = 'rate_limit_exceeded';
  return {
    kind: 'http',
    status,
    body: openAIErrorBody(message, type ?? defaultType(status), null, code),
    retryAfter: retryAfter(errors),
  };
}

const TIMEOUT_NAMES = new Set([
  'APIConnectionTimeoutError',
  'TimeoutError',
  'HeadersTimeoutError',
  'BodyTimeoutError',
]);
const CONNECT_TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
]);

function transportFailure(errors: Fields[], phase: 'first_byte' | 'idle'): UpstreamFailure | null {
  for (const error of errors) {
    const code = typeof error.code === 'string' ? error.code : '';
    if (CONNECT_TIMEOUT_CODES.has(code)) return { kind: 'timeout', phase: 'connect' };
    if (TIMEOUT_NAMES.has(String(error.name))) return { kind: 'timeout', phase };
  }
  for (const error of errors) {
    const code = typeof error.code === 'string' ? error.code : '';
    const message = typeof error.message === 'string' ? error.message : '';
    if (UNREACHABLE_CODES.has(code) || error.name === 'APIConnectionError') {
      return { kind: 'unreachable' };
    }
    if (/fetch failed|socket hang up|other side closed/i.test(message))
      return { kind: 'unreachable' };
  }
  return null;
}

/**
 * Maps whatever LangChain or the SDK under it threw to an UpstreamError. `phase` is where a
 * timeout happened: before anything arrived, or in the middle of a stream.
 */
export function toUpstreamError(
  providerId: string,
  error: unknown,
  phase: 'first_byte' | 'idle' = 'first_byte',
): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (error instanceof InvalidRequest) {
    const body = openAIErrorBody(error.message, 'invalid_request_error', error.param);
    return new UpstreamError(providerId, { kind: 'http', status: 400, body, retryAfter: null });
  }
  const errors = chain(error);
  const detail = errors[0] && typeof errors[0].message === 'string' ? errors[0].message : 'failed';
  const status = errors.map(httpStatus).find((found) => found !== null);
  let failure: UpstreamFailure =
    status !== undefined && status !== null
      ? httpFailure(status, errors)
      : (transportFailure(errors, phase) ?? { kind: 'protocol', detail });
  // A connection lost after the stream began is a cut stream, as for the HTTP providers.
  if (phase === 'idle' && failure.kind === 'unreachable')
    failure = { kind: 'protocol', detail: `stream interrupted: ${detail}` };
  return new UpstreamError(providerId, failure, { cause: error });
}
