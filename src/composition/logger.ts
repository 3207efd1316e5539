import { type DestinationStream, type Logger, pino } from 'pino';
import type { EnvConfig } from '../config/env.js';

/** Every header or field that may hold a credential; pino replaces them before writing. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'apiKey',
  '*.apiKey',
];

/**
 * The process's one logger: JSON lines on stdout (or `destination`), shared by the HTTP
 * app, the workers and the CLI, so every line has the same shape and the same redaction.
 */
export function buildLogger(
  env: Pick<EnvConfig, 'logLevel'>,
  destination?: DestinationStream,
): Logger {
  const options = {
    level: env.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
