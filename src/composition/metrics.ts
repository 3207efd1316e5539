import type { Metrics } from '../observability/metrics/catalogue.js';
import type { Storage } from '../storage/open.js';
import type { Backends } from './backends.js';
import type { Services } from './services.js';

/**
 * Hands the catalogue what it reads at scrape time (the usage queue, the webhook due index,
 * the database pools) and what times every query. Returns the undo, for the root's close:
 * a storage shared by two roots (tests) must stop telling the closed one.
 */
export function watchStorage(
  instruments: Metrics,
  storage: Storage,
  { services, backends }: { services: Services; backends: Backends },
): () => void {
  const queue = backends.usageQueue;
  instruments.pipeline.watchUsage({
    buffered: () => services.usagePublisher.buffered,
    backlog: () => queue.backlog(),
    pending: () => queue.pending(),
    deadLetters: () => queue.deadLetterCount(),
  });
  instruments.pipeline.watchReplication(() => backends.replicaWait.counts());
  instruments.pipeline.watchWebhooks(() => backends.dueIndex.size());
  const servers = storage.servers.all();
  instruments.system.watchPools(() => servers.flatMap((server) => server.pools()));
  instruments.system.watchReplicas(() => storage.servers.replicaLags());
  const undo = servers.map((server) => server.observeQueries(instruments.system.query));
  return () => {
    for (const stop of undo) stop();
  };
}
