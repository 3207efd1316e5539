/**
 * The lines of a Batch API input file and of its output and error files, in OpenAI's format.
 * Each input line is checked alone: a bad one becomes a line of the error file and never
 * stops the others.
 */

/** The endpoints a batch may call, and the request kind each runs as. */
export const BATCH_ENDPOINTS = {
  '/v1/chat/completions': 'chat',
  '/v1/embeddings': 'embeddings',
  '/v1/responses': 'responses',
} as const;

export type BatchEndpoint = keyof typeof BATCH_ENDPOINTS;

type JsonObject = Record<string, unknown>;

/** One request of a batch, as its input line gave it. */
export interface BatchRequestLine {
  /** The line's place in the file, from 0 (blank lines count): its key within the batch. */
  index: number;
  customId: string;
  url: BatchEndpoint;
  body: JsonObject;
}

/** Why a line was not run, as the error file says it. */
export interface BatchLineError {
  index: number;
  /** Null when the line had none that could be read. */
  customId: string | null;
  code: string;
  message: string;
}

export type ParsedLine =
  | { ok: true; line: BatchRequestLine }
  | { ok: false; error: BatchLineError };

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isEndpoint = (url: unknown): url is BatchEndpoint =>
  typeof url === 'string' && Object.hasOwn(BATCH_ENDPOINTS, url);

/**
 * Checks one input line against the batch's endpoint: JSON, an object with a string
 * `custom_id`, `method` POST, `url` the batch's endpoint, and an object `body`.
 */
export function parseBatchLine(text: string, index: number, endpoint: BatchEndpoint): ParsedLine {
  const fail = (customId: string | null, code: string, message: string): ParsedLine => ({
    ok: false,
    error: { index, customId, code, message },
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(null, 'invalid_json_line', `Line ${index + 1} is not valid JSON.`);
  }
  if (!isObject(value))
    return fail(null, 'invalid_request', `Line ${index + 1} is not a JSON object.`);
  const customId = typeof value.custom_id === 'string' ? value.custom_id : null;
  if (customId === null || customId.length === 0)
    return fail(null, 'missing_required_parameter', `Line ${index + 1} has no custom_id.`);
  if (value.method !== 'POST')
    return fail(customId, 'invalid_request', `Line ${index + 1}: method must be POST.`);
  if (!isEndpoint(value.url))
    return fail(
      customId,
      'invalid_url',
      `Line ${index + 1}: url must be one of ${Object.keys(BATCH_ENDPOINTS).join(', ')}.`,
    );
  if (value.url !== endpoint)
    return fail(
      customId,
      'mismatched_endpoint',
      `Line ${index + 1}: url ${value.url} is not the batch's endpoint ${endpoint}.`,
    );
  if (!isObject(value.body))
    return fail(customId, 'invalid_request', `Line ${index + 1}: body must be a JSON object.`);
  return { ok: true, line: { index, customId, url: value.url, body: value.body } };
}

/** The non-blank lines of a file's text, each with its index (blank ones are skipped). */
export function* inputLines(text: string): Generator<[number, string]> {
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim().length > 0) yield [index, line];
  }
}

/** A line of the output file: the request's answer, whatever its status. */
export function outputLine(
  id: string,
  customId: string,
  response: { statusCode: number; requestId: string; body: unknown },
): string {
  return JSON.stringify({
    id,
    custom_id: customId,
    response: {
      status_code: response.statusCode,
      request_id: response.requestId,
      body: response.body,
    },
    error: null,
  });
}

/** A line of the error file: a request that could not be run, with why. */
export function errorLine(id: string, error: BatchLineError): string {
  return JSON.stringify({
    id,
    custom_id: error.customId,
    response: null,
    error: { code: error.code, message: error.message },
  });
}
