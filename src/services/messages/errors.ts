import type { GatewayError } from '../../errors/gateway-error.js';
import { type ErrorCode, isErrorCode } from '../../errors/registry.js';

/** The error types of Anthropic's API that its SDKs and clients act on. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

/**
 * Every code of the error registry as Anthropic's API names it: the one place the Messages
 * API's errors are decided. Statuses stay the registry's; a new code must be added here.
 */
export const ANTHROPIC_ERROR_TYPES: Readonly<Record<ErrorCode, AnthropicErrorType>> = {
  invalid_json: 'invalid_request_error',
  invalid_encoding: 'invalid_request_error',
  invalid_request: 'invalid_request_error',
  unsupported_model_capability: 'invalid_request_error',
  model_not_found: 'not_found_error',
  invalid_api_key: 'authentication_error',
  rate_limit_exceeded: 'rate_limit_error',
  insufficient_quota: 'rate_limit_error',
  limit_not_found: 'not_found_error',
  quota_not_found: 'not_found_error',
  webhook_not_found: 'not_found_error',
  delivery_not_found: 'not_found_error',
  provider_not_found: 'not_found_error',
  provider_key_not_found: 'not_found_error',
  provider_key_unreadable: 'api_error',
  webhook_url_refused: 'invalid_request_error',
  auth_rate_limited: 'rate_limit_error',
  tenant_disabled: 'permission_error',
  user_disabled: 'permission_error',
  key_not_found: 'not_found_error',
  last_platform_key: 'invalid_request_error',
  tenant_not_found: 'not_found_error',
  tenant_exists: 'invalid_request_error',
  not_found: 'not_found_error',
  response_not_found: 'not_found_error',
  file_not_found: 'not_found_error',
  file_too_large: 'request_too_large',
  file_storage_exceeded: 'invalid_request_error',
  batch_not_found: 'not_found_error',
  batch_not_cancellable: 'invalid_request_error',
  request_too_large: 'request_too_large',
  request_timeout: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error',
  upstream_rate_limited: 'rate_limit_error',
  internal_error: 'api_error',
  upstream_error: 'api_error',
  upstream_unreachable: 'api_error',
  service_unavailable: 'overloaded_error',
  database_servers_full: 'api_error',
  model_unavailable: 'overloaded_error',
  tenant_moving: 'overloaded_error',
  no_suitable_model: 'invalid_request_error',
  upstream_timeout: 'timeout_error',
  permission_denied: 'permission_error',
  user_not_found: 'not_found_error',
  csrf_token_invalid: 'permission_error',
  session_expired: 'authentication_error',
  ui_not_built: 'not_found_error',
  oidc_provider_not_found: 'not_found_error',
  oidc_login_failed: 'authentication_error',
  invoice_not_found: 'not_found_error',
  price_plan_not_found: 'not_found_error',
  period_not_closed: 'invalid_request_error',
  invoice_status_conflict: 'invalid_request_error',
  idempotency_key_reused: 'invalid_request_error',
  idempotency_key_in_progress: 'invalid_request_error',
  user_exists: 'invalid_request_error',
};

/** Statuses an upstream error passed through may carry beside its registry code. */
const BY_STATUS: Readonly<Record<number, AnthropicErrorType>> = {
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
};

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
}

export function anthropicErrorType(error: GatewayError): AnthropicErrorType {
  // A pass-through upstream error keeps the registry's code but its own status.
  if (error.code === 'invalid_request') return BY_STATUS[error.status] ?? 'invalid_request_error';
  return ANTHROPIC_ERROR_TYPES[error.code];
}

export function anthropicErrorBody(error: GatewayError): AnthropicErrorBody {
  return { type: 'error', error: { type: anthropicErrorType(error), message: error.message } };
}

/**
 * An OpenAI error body (a stream's final error event) in Anthropic's shape: the wire code is
 * the registry's own unless an upstream's error was passed through.
 */
export function anthropicErrorOfBody(body: unknown): AnthropicErrorBody {
  const error = (body as { error?: { message?: unknown; code?: unknown } } | null)?.error;
  const code = typeof error?.code === 'string' && isErrorCode(error.code) ? error.code : null;
  const message = typeof error?.message === 'string' ? error.message : 'The stream failed.';
  return {
    type: 'error',
    error: { type: code === null ? 'api_error' : ANTHROPIC_ERROR_TYPES[code], message },
  };
}
