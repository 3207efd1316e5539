import type { ServerResponse } from 'node:http';

/**
 * Whether a response was sent to its end, asked once its connection or stream has closed.
 * `writableFinished` alone says so over HTTP/1, but Node's HTTP/2 compatibility layer sets
 * it on a stream the client reset as well; such a response was never ended, though.
 */
export function responseFinished(raw: ServerResponse): boolean {
  return raw.writableEnded && raw.writableFinished;
}

/**
 * Whether the client went away: its connection closed, or (HTTP/2) the stream of this one
 * request was reset while the connection stays.
 */
export function clientGone(raw: ServerResponse): boolean {
  const stream = (raw as ServerResponse & { stream?: { destroyed: boolean } }).stream;
  return raw.destroyed === true || raw.socket?.destroyed === true || stream?.destroyed === true;
}
