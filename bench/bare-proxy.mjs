/**
 * The bare proxy: the least any Node gateway does per request, as a yardstick for the
 * others. node:http takes the request, the JSON body is parsed, the model name mapped and the
 * body written again, undici (one pooled connection set) sends it to the upstream, and the
 * answer is relayed as it comes, a stream chunk by chunk. No auth, no limits, no accounting.
 * Plain JavaScript so that it runs on bare `node`, with no loader adding to its memory.
 *
 *   node bench/bare-proxy.mjs --port=8788 --upstream=http://127.0.0.1:9000
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: { port: { type: 'string' }, upstream: { type: 'string' } },
});
if (values.port === undefined || values.upstream === undefined) {
  console.error('usage: node bench/bare-proxy.mjs --port=N --upstream=http://host:port');
  process.exit(2);
}

/** Public model names to the upstream's, as every gateway keeps them. */
const MODELS = new Map([['bench-model', 'bench-model']]);
// As many connections as our gateway may open (its provider's max_connections in the bench):
// 1,000 held streams need 1,000 upstream connections at once.
const upstream = new Pool(values.upstream, {
  connections: 4096,
  pipelining: 1,
  keepAliveTimeout: 30_000,
  headersTimeout: 30_000,
  bodyTimeout: 60_000,
});

function fail(res, status, message) {
  if (res.headersSent) return void res.destroy();
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error' } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

async function proxy(req, res) {
  const parts = [];
  for await (const part of req) parts.push(part);
  let body;
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    return fail(res, 400, 'invalid JSON');
  }
  const model = MODELS.get(body.model);
  if (model === undefined) return fail(res, 404, `unknown model '${body.model}'`);
  body.model = model;
  // The client leaving ends the upstream call too, as a gateway must.
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const answer = await upstream.request({
    path: '/v1/chat/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
    body: JSON.stringify(body),
    signal: abort.signal,
  });
  const type = answer.headers['content-type'] ?? 'application/json';
  res.writeHead(answer.statusCode, { 'content-type': type });
  for await (const chunk of answer.body) res.write(chunk);
  res.end();
}

const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0 }, (req, res) => {
  if (req.method === 'GET' && req.url === '/') return void res.end('ok');
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions')
    return fail(res, 404, 'not found');
  proxy(req, res).catch((error) => {
    if (!abortedByClient(error)) fail(res, 502, `upstream: ${String(error)}`);
  });
});
server.headersTimeout = 0;

function abortedByClient(error) {
  return (
    error instanceof Error && (error.name === 'AbortError' || error.code === 'UND_ERR_ABORTED')
  );
}

server.listen(Number(values.port), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void upstream.close().finally(() => process.exit(0));
});
