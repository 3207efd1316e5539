import type { IncomingMessage } from 'node:http';

/**
 * How much of a refused body is read and thrown away so the client can read the answer.
 * Bandwidth is all it costs (nothing is kept), but a client must not hold a reader forever.
 */
export const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;
export const DRAIN_LIMIT_MS = 10_000;

/**
 * Reads and discards the rest of a request body. A server that answers while the client is
 * still sending and then closes makes the kernel reset the connection, and fetch-based
 * clients (the openai SDK among them) report that reset, not the answer, then retry. Resolves
 * true once the body has ended; false when it is too large or too slow to wait for, and the
 * connection has to be closed with the client still sending.
 */
export function drainBody(
  raw: IncomingMessage,
  limits = { bytes: DRAIN_LIMIT_BYTES, ms: DRAIN_LIMIT_MS },
): Promise<boolean> {
  if (raw.complete || raw.readableEnded) return Promise.resolve(true);
  if (raw.destroyed) return Promise.resolve(false);
  // A declared length past the budget is not worth reading at all.
  if (Number(raw.headers['content-length']) > limits.bytes) return Promise.resolve(false);
  return new Promise((resolve) => {
    let read = 0;
    const settle = (ended: boolean) => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('close', onClose);
      raw.off('error', onClose);
      if (!ended) raw.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (read > limits.bytes) settle(false);
    };
    const onEnd = () => settle(true);
    const onClose = () => settle(raw.complete);
    const timer = setTimeout(() => settle(false), limits.ms);
    raw.on('data', onData);
    raw.once('end', onEnd);
    raw.once('close', onClose);
    raw.once('error', onClose);
    raw.resume();
  });
}
