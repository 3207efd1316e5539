/** A request field Anthropic has no equivalent for; the client gets a 400 naming it. */
export class UnsupportedRequestError extends Error {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
    this.name = 'UnsupportedRequestError';
  }
}

/** Status of Anthropic's documented error types, for `error` events inside a 200 stream. */
const STATUS_OF_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

export function statusOfErrorType(type: unknown): number {
  return (typeof type === 'string' && STATUS_OF_TYPE[type]) || 500;
}

// Both say the prompt does not fit the model's window, so a larger-context model may serve it.
const CONTEXT_LENGTH = /prompt is too long|exceed context limit/i;

/**
 * Anthropic's `{type:'error', error:{type, message}}` in OpenAI's shape, with OpenAI's codes
 * where a client or the router acts on them. Anything else is returned as it is.
 */
export function toOpenAIErrorBody(body: unknown): unknown {
  const error = (body as { error?: unknown } | null)?.error;
  if (error === null || typeof error !== 'object') return body;
  const { type, message } = error as { type?: unknown; message?: unknown };
  if (typeof message !== 'string') return body;
  let code: string | null = null;
  if (CONTEXT_LENGTH.test(message)) code = 'context_length_exceeded';
  else if (type === 'rate_limit_error') code = 'rate_limit_exceeded';
  return {
    error: {
      message,
      type: typeof type === 'string' ? type : 'api_error',
      param: null,
      code,
    },
  };
}
