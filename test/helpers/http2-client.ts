import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  type IncomingHttpHeaders,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';

export interface Http2Answer {
  stream: ClientHttp2Stream;
  status: number;
  headers: IncomingHttpHeaders;
  /** Resolves with the whole body once the stream ended. */
  body: Promise<string>;
  /** Resolves once the body so far contains `text`. */
  seen(text: string): Promise<void>;
}

/** An HTTP/2 session to `url` trusting `ca`, and the fingerprint of the certificate it got. */
export async function openHttp2(
  url: string,
  ca: string,
): Promise<{ session: ClientHttp2Session; fingerprint: string }> {
  const session = connect(url, { ca });
  session.on('error', () => {});
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    session.once('connect', (_session, connected) => resolve(connected as TLSSocket));
    session.once('error', reject);
  });
  if (socket.alpnProtocol !== 'h2') throw new Error(`negotiated ${socket.alpnProtocol}, not h2`);
  return { session, fingerprint: socket.getPeerCertificate().fingerprint256 };
}

/** One request on an HTTP/2 session; resolves once the response's headers arrived. */
export function http2Request(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: string,
): Promise<Http2Answer> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  let text = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  stream.setEncoding('utf8');
  stream.on('data', (data: string) => {
    text += data;
    for (const waiter of waiters.filter((w) => text.includes(w.text))) waiter.resolve();
  });
  const body$ = new Promise<string>((resolve, reject) => {
    stream.once('end', () => resolve(text));
    stream.once('error', reject);
  });
  body$.catch(() => {});
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.once('response', (responseHeaders) =>
      resolve({
        stream,
        status: Number(responseHeaders[':status']),
        headers: responseHeaders,
        body: body$,
        seen: (wanted) =>
          text.includes(wanted)
            ? Promise.resolve()
            : new Promise((done) => waiters.push({ text: wanted, resolve: done })),
      }),
    );
  });
}
