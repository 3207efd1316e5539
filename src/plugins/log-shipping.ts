import type { FastifyInstance } from 'fastify';
import type { EventLog } from '../services/events/event-log.js';
import { callerFields, completionRecord, type RequestContext } from './request-context.js';

/** With LOG_STREAM set, one record per finished request goes to the log stream. */
export function registerLogShipping(
  app: FastifyInstance,
  context: RequestContext,
  logStream: EventLog | null,
): void {
  if (logStream === null) return;
  context.onFinished((finished) => {
    const { principal } = finished.request;
    logStream
      .append({
        type: 'request.completed',
        tenantId: principal?.kind === 'tenant' ? principal.tenantId : null,
        data: {
          requestId: finished.request.id,
          ...callerFields(finished.request),
          ...completionRecord(finished),
        },
      })
      .catch((error: unknown) => app.log.debug({ err: error }, 'request log not shipped'));
  });
}
