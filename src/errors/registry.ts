/**
 * Every error the gateway can return, keyed by its code. Status and type follow OpenAI's
 * conventions so the official SDKs map each one to their matching error class.
 */
export const errorRegistry = {
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    message: 'We could not parse the JSON body of your request.',
  },
  invalid_encoding: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The request body is not valid UTF-8.',
  },
  invalid_request: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The request is invalid.',
  },
  unsupported_model_capability: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The model does not support this endpoint.',
  },
  model_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The model does not exist or you do not have access to it.',
  },
  invalid_api_key: {
    status: 401,
    type: 'invalid_request_error',
    message: 'Incorrect API key provided.',
  },
  rate_limit_exceeded: {
    status: 429,
    // OpenAI says which limit: 'requests' or 'tokens'; set per error.
    type: 'requests',
    message: 'Rate limit reached.',
  },
  insufficient_quota: {
    status: 429,
    // As OpenAI sends it when an account is out of credit: the type and code agree.
    type: 'insufficient_quota',
    message: 'You exceeded your current quota.',
  },
  limit_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The limit does not exist.',
  },
  quota_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The quota does not exist.',
  },
  webhook_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The webhook does not exist.',
  },
  delivery_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The webhook delivery does not exist.',
  },
  provider_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The provider does not exist.',
  },
  provider_key_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The tenant has no key of its own for this provider.',
  },
  provider_key_unreadable: {
    status: 500,
    type: 'server_error',
    message:
      "The tenant's stored key for this provider could not be decrypted; the operator must check MASTER_KEY and MASTER_KEY_PREVIOUS.",
  },
  webhook_url_refused: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The webhook URL is not allowed.',
  },
  auth_rate_limited: {
    status: 429,
    type: 'requests',
    message: 'Too many requests with invalid API keys from this client.',
  },
  tenant_disabled: {
    status: 403,
    type: 'invalid_request_error',
    message: 'This tenant is disabled.',
  },
  user_disabled: {
    status: 403,
    type: 'invalid_request_error',
    message: 'The user who owns this API key is disabled.',
  },
  key_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The API key does not exist.',
  },
  last_platform_key: {
    status: 409,
    type: 'invalid_request_error',
    message:
      'This is the last platform admin key that still works; create another before revoking it.',
  },
  tenant_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The tenant does not exist.',
  },
  tenant_exists: {
    status: 409,
    type: 'invalid_request_error',
    message: 'A tenant with this slug exists already.',
  },
  response_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'No response with this id was found.',
  },
  file_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'No file with this id was found.',
  },
  file_too_large: {
    status: 413,
    type: 'invalid_request_error',
    message: 'The file is larger than the configured limit.',
  },
  file_storage_exceeded: {
    status: 400,
    type: 'invalid_request_error',
    message: "The file would take the tenant's stored files past its storage quota.",
  },
  batch_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'No batch with this id was found.',
  },
  batch_not_cancellable: {
    status: 409,
    type: 'invalid_request_error',
    message: 'The batch has already ended and cannot be cancelled.',
  },
  not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'Unknown request URL.',
  },
  request_too_large: {
    status: 413,
    type: 'invalid_request_error',
    message: 'The request body is larger than the configured limit.',
  },
  request_timeout: {
    status: 408,
    type: 'invalid_request_error',
    message: 'The request was not received in time; the connection is closed.',
  },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    message: "Unsupported Content-Type; send 'application/json'.",
  },
  upstream_rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    message: 'The upstream provider is rate limiting requests; retry later.',
  },
  internal_error: {
    status: 500,
    type: 'server_error',
    message: 'The server had an error while processing your request.',
  },
  upstream_error: {
    status: 502,
    type: 'server_error',
    message: 'The upstream provider returned an error.',
  },
  upstream_unreachable: {
    status: 502,
    type: 'server_error',
    message: 'The upstream provider could not be reached.',
  },
  service_unavailable: {
    status: 503,
    type: 'server_error',
    message: 'The server is shutting down or not ready; retry shortly.',
  },
  database_servers_full: {
    status: 503,
    type: 'server_error',
    message: 'Every database server a new tenant may go to has reached its max_tenants.',
  },
  tenant_moving: {
    status: 503,
    type: 'server_error',
    message: "The tenant's database is moving to another server; retry in a few seconds.",
  },
  model_unavailable: {
    status: 503,
    type: 'server_error',
    message: 'No deployment of the model can take requests right now; retry later.',
  },
  no_suitable_model: {
    status: 400,
    type: 'invalid_request_error',
    message: 'No model available to you meets the needs of the request.',
  },
  upstream_timeout: {
    status: 504,
    type: 'timeout_error',
    message: 'The upstream provider did not respond in time.',
  },
  permission_denied: {
    status: 403,
    type: 'invalid_request_error',
    message: 'You do not have permission to perform this operation.',
  },
  user_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The user does not exist.',
  },
  idempotency_key_reused: {
    status: 409,
    type: 'invalid_request_error',
    message:
      'This Idempotency-Key was already used with a different request body; use a new key for a new request.',
  },
  idempotency_key_in_progress: {
    status: 409,
    type: 'invalid_request_error',
    message:
      'A request with this Idempotency-Key is still running; retry once it has finished to get its answer.',
  },
  user_exists: {
    status: 409,
    type: 'invalid_request_error',
    message: 'A user with this email exists already.',
  },
  invoice_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The invoice does not exist.',
  },
  price_plan_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'The tenant has no price plan for this period.',
  },
  period_not_closed: {
    status: 409,
    type: 'invalid_request_error',
    message:
      'The billing period cannot be finalized yet: it has not ended, usage from before its end is still queued, or an earlier period is still open.',
  },
  invoice_status_conflict: {
    status: 409,
    type: 'invalid_request_error',
    message: 'The invoice is not in a status that allows this.',
  },
  csrf_token_invalid: {
    status: 403,
    type: 'invalid_request_error',
    message:
      'This request was made with the admin panel session cookie but without its CSRF token: send the x-csrf-token header the session gave you.',
  },
  session_expired: {
    status: 401,
    type: 'invalid_request_error',
    message:
      'Your admin panel session has ended (signed out, expired, or its key revoked); sign in again.',
  },
  ui_not_built: {
    status: 404,
    type: 'invalid_request_error',
    message:
      'The admin panel is not built on this server: run `npm run build` (or set UI_DIR to a built copy) and restart.',
  },
  oidc_provider_not_found: {
    status: 404,
    type: 'invalid_request_error',
    message: 'No single sign-on is configured for this tenant.',
  },
  oidc_login_failed: {
    status: 401,
    type: 'invalid_request_error',
    message: 'Single sign-on failed; start again from the sign-in page.',
  },
} as const satisfies Record<string, ErrorDefinition>;

export interface ErrorDefinition {
  status: number;
  type: string;
  message: string;
}

export type ErrorCode = keyof typeof errorRegistry;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorRegistry, value);
}
