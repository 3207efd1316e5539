import type { FastifyReply } from 'fastify';
import { responseFinished } from '../../plugins/response-state.js';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // Proxies such as nginx would otherwise hold chunks back.
  'x-accel-buffering': 'no',
};

/** Aborts upstream work as soon as the client's connection closes before the response ended. */
export function signalForClient(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!responseFinished(reply.raw)) controller.abort();
  });
  return controller.signal;
}
