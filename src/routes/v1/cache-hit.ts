import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { commitAnswer } from '../../plugins/usage-events.js';
import type { JsonObject } from '../../providers/types.js';
import type { Capability } from '../../services/inference/model-catalog.js';
import type { Usage } from '../../services/inference/usage.js';
import type { Admission } from '../../services/limits/limiter.js';
import type { UsageCommitter } from '../../services/usage/usage-commit.js';
import { newId } from '../../utils/ids.js';
import type { AnswerFormat } from './answer-format.js';
import { type Caching, storedAnswer } from './caching.js';
import { SSE_HEADERS, signalForClient } from './reply.js';

interface HitInput {
  capability: Capability;
  body: JsonObject;
  admission: Admission;
  caching: Caching;
  format: AnswerFormat;
}

/** Sends a stored answer, as JSON or as an SSE stream. */
export async function sendStored(
  reply: FastifyReply,
  answer: ReturnType<typeof storedAnswer>,
  format: AnswerFormat,
  headers: Record<string, string>,
  usage: Usage | null = null,
) {
  reply.headers(headers);
  if ('body' in answer)
    return reply.type('application/json').send(await format.json(answer.body, usage));
  return reply.headers(SSE_HEADERS).send(Readable.from(format.frames(answer.frames)));
}

/**
 * Answers from the cache: accounted as a hit (the cache price, and what the upstream would
 * have cost as saved), held to request limits only, settled with nothing used. The stored
 * answer is whole, so its usage event is committed before any of it is sent.
 */
export async function serveHit(
  deps: { usage: UsageCommitter },
  input: HitInput,
  hit: Pick<NonNullable<Caching['hit']>, 'entry' | 'cost'>,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const { entry, cost } = hit;
  request.inference = {
    model: entry.model,
    provider: entry.provider,
    deployment: entry.deployment,
    attempts: 0,
    stream: input.body.stream === true,
    usage: entry.usage,
    cost,
    timeToFirstChunkMs: null,
    eventId: newId('evt'),
    committed: false,
    cacheHit: true,
    savedCost: entry.cost,
  };
  request.settled = input.admission.settle({ tokens: 0, cost: 0 });
  // An Idempotency-Key sent with a hit keeps the hit's answer.
  input.caching.keep(entry);
  await commitAnswer(deps.usage, request, reply, signalForClient(reply));
  const answer = storedAnswer(input.capability, input.body, entry.body);
  return sendStored(reply, answer, input.format, {}, entry.usage);
}
