import { type ErrorCode, errorRegistry } from './registry.js';

/** OpenAI's error body: every error response and every in-stream error uses it. */
export interface OpenAIErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
  };
}

export interface GatewayErrorOptions {
  message?: string;
  param?: string | null;
  /** Overrides the registry status, only for errors passed through from an upstream. */
  status?: number;
  /** Overrides the registry type, only for errors passed through from an upstream. */
  type?: string;
  /** Overrides the wire code, only for errors passed through from an upstream. */
  wireCode?: string | null;
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * The one error class of the gateway. Its status, type and default message come from the
 * registry; the message is always safe to show to a client.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly wireCode: string | null;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    const definition = errorRegistry[code];
    super(options.message ?? definition.message, { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? definition.status;
    this.type = options.type ?? definition.type;
    this.param = options.param ?? null;
    this.wireCode = options.wireCode === undefined ? code : options.wireCode;
    this.headers = options.headers ?? {};
  }

  toBody(): OpenAIErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.wireCode },
    };
  }
}
