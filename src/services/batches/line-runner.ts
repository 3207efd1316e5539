import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import type { BatchesRepository, BatchRow } from '../../storage/repositories/batches.js';
import { newId } from '../../utils/ids.js';
import type { DirectAnswer, DirectCall } from '../inference/direct-call.js';
import type { TenantPrincipal } from '../keys/key-service.js';
import { toChatRequest } from '../responses/chat-request.js';
import { inputItems } from '../responses/request.js';
import { responseShell, toResponse } from '../responses/response.js';
import { batchPricing } from '../usage/cost.js';
import type { UsageEvent } from '../usage/usage-records.js';
import { lineUsageId } from './batch-files.js';
import { BATCH_ENDPOINTS, type BatchEndpoint } from './batch-lines.js';

/** What running a line needs of the process. */
export interface LineRunnerDeps {
  call: (call: DirectCall) => Promise<DirectAnswer>;
  /** Writes usage records, idempotently by id: a line's record written twice counts once. */
  writeUsage: (tenantId: string, events: UsageEvent[]) => Promise<unknown>;
  /** Waits for the pace's next slot before a line goes upstream. */
  pace: () => Promise<void>;
  attempts: number;
  /** The first wait before a retry; doubled each time unless the upstream said how long. */
  retryBaseMs: number;
  now: () => Date;
}

export interface LineContext {
  tenantId: string;
  tenantSlug: string;
  repository: BatchesRepository;
  batch: BatchRow;
  index: number;
}

/** Upstream failures worth another try: throttling, overload, a gateway or server error. */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);
const MAX_RETRY_WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function principalOf(context: LineContext): TenantPrincipal {
  const { batch } = context;
  return {
    kind: 'tenant',
    tenantId: context.tenantId,
    tenantSlug: context.tenantSlug,
    keyId: batch.key_id,
    role: 'member',
    userId: batch.user_id,
    allowedModels: batch.allowed_models,
    validUntil: null,
  };
}

function retryWait(error: GatewayError, attempt: number, baseMs: number): number {
  const after = Number(error.headers['retry-after']);
  if (Number.isFinite(after) && after > 0) return Math.min(after * 1000, MAX_RETRY_WAIT_MS);
  return Math.min(baseMs * 2 ** (attempt - 1), MAX_RETRY_WAIT_MS);
}

const retryable = (error: GatewayError) =>
  RETRYABLE.has(error.status) && error.code !== 'insufficient_quota';

/**
 * Runs one line and records how it ended, once. A line whose row says it ended is never sent
 * again: a re-claimed job only makes sure its usage record is written. Returns how many lines
 * of the batch are still open (0: finalize it).
 */
export async function runLine(deps: LineRunnerDeps, context: LineContext): Promise<number> {
  const { repository, batch, index, tenantId } = context;
  const now = deps.now();
  if (batch.status === 'cancelling')
    return (await repository.finish(batch.id, index, { state: 'cancelled', at: now })).remaining;
  if (now.getTime() >= new Date(batch.expires_at).getTime()) {
    const error = {
      code: 'batch_expired',
      message: 'This request could not be executed before the completion window expired.',
    };
    return (await repository.finish(batch.id, index, { state: 'failed', error, at: now }))
      .remaining;
  }
  const line = await repository.start(batch.id, index);
  if (line === null) {
    // Ended by an earlier run: its usage record may not have been written before it died.
    const ended = await repository.line(batch.id, index);
    if (ended?.usage_event) await deps.writeUsage(tenantId, [usageFromRow(ended.usage_event)]);
    return (await repository.get(batch.id))?.remaining ?? 0;
  }
  const body = line.request ?? {};
  const outcome = await callWithRetries(deps, context, body);
  if ('error' in outcome)
    return (
      await repository.finish(batch.id, index, { ...outcome, state: 'failed', at: deps.now() })
    ).remaining;
  const { answer, requestId, at, latencyMs } = outcome;
  const event: UsageEvent = {
    id: lineUsageId(batch.id, index),
    at,
    requestId,
    tenantId,
    userId: batch.user_id,
    keyId: batch.key_id,
    model: answer.model.name,
    provider: answer.deployment.providerId,
    usage: answer.usage,
    cost: answer.cost,
    latencyMs,
    timeToFirstTokenMs: null,
    status: 200,
    streamed: false,
    clientDisconnected: false,
    cacheHit: false,
    savedCost: 0,
    byok: answer.byok,
    batch: true,
  };
  const ended = await repository.finish(batch.id, index, {
    state: 'done',
    response: { status_code: 200, request_id: requestId, body: outcome.body },
    usageEvent: { ...event, at: at.toISOString() },
    at: deps.now(),
  });
  // Only the run that recorded the answer writes its usage; a duplicate's answer is dropped.
  if (ended.recorded) await deps.writeUsage(tenantId, [event]);
  return ended.remaining;
}

type CallOutcome =
  | { answer: DirectAnswer; body: JsonObject; requestId: string; at: Date; latencyMs: number }
  | { error: { code: string; message: string } };

async function callWithRetries(
  deps: LineRunnerDeps,
  context: LineContext,
  body: JsonObject,
): Promise<CallOutcome> {
  const endpoint = context.batch.endpoint as BatchEndpoint;
  for (let attempt = 1; ; attempt++) {
    await deps.pace();
    const at = deps.now();
    const requestId = newId('req');
    try {
      const request = requestOf(endpoint, body);
      const started = performance.now();
      const answer = await deps.call({
        principal: principalOf(context),
        capability: request.capability,
        body: request.body,
        requestId,
        at,
        signal: AbortSignal.timeout(MAX_LINE_MS),
        pricing: batchPricing,
      });
      const latencyMs = Math.round((performance.now() - started) * 100) / 100;
      return { answer, body: answerBody(endpoint, body, answer), requestId, at, latencyMs };
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      if (attempt >= deps.attempts || !retryable(error))
        return { error: { code: error.wireCode ?? error.code, message: error.message } };
      await sleep(retryWait(error, attempt, deps.retryBaseMs));
    }
  }
}

/** The longest one line's upstream call may take before it counts as failed. */
const MAX_LINE_MS = 10 * 60_000;

/** The request as the upstream runs it: a Responses API line becomes a chat request. */
function requestOf(endpoint: BatchEndpoint, body: JsonObject) {
  if (body.stream === true)
    throw new GatewayError('invalid_request', {
      message: 'A batch line cannot stream.',
      param: 'stream',
    });
  if (endpoint !== '/v1/responses') return { capability: BATCH_ENDPOINTS[endpoint], body };
  if (body.previous_response_id !== undefined && body.previous_response_id !== null)
    throw new GatewayError('invalid_request', {
      message: 'previous_response_id is not supported in a batch.',
      param: 'previous_response_id',
    });
  return { capability: 'chat' as const, body: toChatRequest(body, inputItems(body.input)) };
}

function answerBody(endpoint: BatchEndpoint, body: JsonObject, answer: DirectAnswer): JsonObject {
  if (endpoint !== '/v1/responses') return answer.body;
  const now = Math.floor(Date.now() / 1000);
  const shell = responseShell(newId('resp'), { ...body, store: false }, now);
  return toResponse(shell, answer.body, answer.usage, now);
}

/** A usage event as a line's row keeps it (the time as text). */
export function usageFromRow(row: Record<string, unknown>): UsageEvent {
  return { ...(row as unknown as UsageEvent), at: new Date(String(row.at)) };
}
