import type { SessionGate } from '../../plugins/session-auth.js';
import type { BatchService } from '../../services/batches/batch-service.js';
import type { Idempotency } from '../../services/cache/idempotency.js';
import type { ResponseCache } from '../../services/cache/response-cache.js';
import type { SemanticCaching } from '../../services/cache/semantic-caching.js';
import type { Inference } from '../../services/dedup/deduplicator.js';
import type { FileService } from '../../services/files/file-service.js';
import type { ModelCatalog } from '../../services/inference/model-catalog.js';
import type { Authenticator } from '../../services/keys/authenticator.js';
import type { RateLimiter } from '../../services/limits/limiter.js';
import type { ResponseStore } from '../../services/responses/store.js';
import type { ModelResolver } from '../../services/routing/auto-router.js';
import type { UsageCommitter } from '../../services/usage/usage-commit.js';

/** What the data plane's routes are built from (a file of its own: the handlers need it too). */
export interface V1Deps {
  /** The upstream calls, identical requests in flight sharing one. */
  inference: Inference;
  catalog: ModelCatalog;
  /** Turns the requested name (a model, or a router such as `auto`) into a model. */
  resolver: ModelResolver;
  authenticator: Authenticator;
  /** The admin panel's session cookie, taken on `GET /v1/models` only. */
  sessions?: SessionGate;
  limiter: RateLimiter;
  /** Completion tokens reserved against token limits when a request sets no max_tokens. */
  defaultCompletionTokens: number;
  /** Each tenant's exact response cache. */
  cache: ResponseCache;
  /** Each tenant's semantic cache, for requests that opt in; null: none in this process. */
  semantic: SemanticCaching | null;
  /** Idempotency-Key: one run and one accounting per key and request. */
  idempotency: Idempotency;
  /** Makes an answer's usage event durable before its last byte leaves. */
  usage: UsageCommitter;
  /** Stored Responses API responses (`store`, `previous_response_id`). */
  responses: ResponseStore;
  /** Files API files (batch input and output). */
  files: FileService;
  /** Batch API batches (their lines run in the workers). */
  batches: BatchService;
  /** The largest file an upload may carry. */
  filesMaxBytes: number;
}
