import type { Kysely } from 'kysely';
import type { ModelConfig } from '../../config/load.js';
import type {
  SemanticCacheSettings,
  SemanticCacheSettingsPatch,
} from '../../domain/semantic-cache-settings.js';
import type { JsonObject } from '../../providers/types.js';
import {
  type EntryScope,
  type SemanticCacheEntry,
  SemanticCacheRepository,
} from '../../storage/repositories/semantic-cache.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import type { InferenceCall, InferenceService } from '../inference/inference-service.js';
import type { Capability, ModelCatalog } from '../inference/model-catalog.js';
import type { Usage } from '../inference/usage.js';
import { costOf } from '../usage/cost.js';
import {
  paramsDigest,
  type SemanticSkipReason,
  semanticText,
  textDigest,
} from './semantic-request.js';
import { checkSemanticSettings } from './semantic-settings-check.js';

export interface SemanticCacheOptions {
  inference: Pick<InferenceService, 'complete'>;
  catalog: Pick<ModelCatalog, 'resolve'>;
  /** The tenant's database (its primary: a store is read back at once). */
  database: (tenantId: string) => Promise<Kysely<TenantSchema>>;
  now?: () => Date;
}

/** One chat request, after routing aliases and admission. */
export interface SemanticRequest {
  tenantId: string;
  capability: Capability;
  /** The model that would answer, after aliases: entries never cross models. */
  model: string;
  body: JsonObject;
  settings: SemanticCacheSettings;
  /** The request's own call: its signal, id and trace; the embedding is made for its tenant. */
  call: Pick<InferenceCall, 'signal' | 'requestId' | 'trace' | 'clientTrace'>;
}

/**
 * The upstream call that embedded the conversation. The tenant caused it, so the caller
 * records it like any other call: a usage record of the embedding model, at its price.
 */
export interface EmbeddingCall {
  model: string;
  provider: string;
  deployment: string;
  attempts: number;
  usage: Usage;
  cost: number;
}

/** What the cache could not do, and why: the request goes upstream as if it had none. */
export type SemanticSkip = {
  outcome: 'skip';
  /** `unavailable`: no pgvector on the tenant's server, or its database failed. */
  reason: SemanticSkipReason | 'disabled' | 'unavailable' | 'embedding_failed';
  /** The failure, for the log. */
  error?: unknown;
  /** The embedding call, when one was made before the skip: still to be accounted. */
  embedding: EmbeddingCall | null;
};

export type SemanticHit = {
  outcome: 'hit';
  entry: SemanticCacheEntry;
  /** Cosine similarity to the stored conversation; 1 for an exact repeat. */
  similarity: number;
  /** Null for an exact repeat, which needs no embedding. */
  embedding: EmbeddingCall | null;
};

/** No answer similar enough: `store` keeps the upstream's, under this request's vector. */
export type SemanticMiss = {
  outcome: 'miss';
  embedding: EmbeddingCall;
  pending: PendingEntry;
};

export type SemanticLookup = SemanticSkip | SemanticHit | SemanticMiss;

/** What a miss keeps until the upstream answered. */
export interface PendingEntry {
  tenantId: string;
  scope: Omit<EntryScope, 'now'>;
  textDigest: string;
  vector: number[];
  settings: SemanticCacheSettings;
}

/**
 * The semantic cache: a chat request whose conversation means nearly the same as one
 * answered before (cosine similarity of their embeddings at or above the tenant's threshold)
 * gets that answer again, from the tenant's own database. Knows no HTTP; the caller decides
 * when to look up (the request opted in) and what to tell the client.
 */
export class SemanticCache {
  /** Tenants whose table was found (or made) in this process. */
  private readonly prepared = new Map<string, Promise<boolean>>();

  constructor(private readonly options: SemanticCacheOptions) {}

  /**
   * Reads and checks one layer of settings in its wire form (config file or API): every
   * problem at once, then the embedding model against the catalog. Throws
   * `invalid_request` naming the parameter.
   */
  check(input: unknown, base: SemanticCacheSettingsPatch = {}): SemanticCacheSettingsPatch {
    return checkSemanticSettings(this.options.catalog, input, base);
  }

  /**
   * Looks the request up. Fails open: a database that does not answer, or an embedding
   * model that fails, is a skip (with the error, for the log), and the request goes upstream.
   * Every outcome after an embedding carries its call, to be accounted.
   */
  async lookup(request: SemanticRequest): Promise<SemanticLookup> {
    const { settings } = request;
    if (!settings.enabled || settings.embeddingModel === null)
      return { outcome: 'skip', reason: 'disabled', embedding: null };
    if (request.capability !== 'chat')
      return { outcome: 'skip', reason: 'not_chat', embedding: null };
    const read = semanticText(request.body);
    if ('skip' in read) return { outcome: 'skip', reason: read.skip, embedding: null };
    const scope = {
      model: request.model,
      paramsDigest: paramsDigest(request.body),
      embeddingModel: settings.embeddingModel,
    };
    const digest = textDigest(read.text);
    let embedding: EmbeddingCall | null = null;
    try {
      const repository = await this.repository(request.tenantId);
      if (repository === null) return { outcome: 'skip', reason: 'unavailable', embedding };
      const repeat = await repository.exact({ ...scope, now: this.now() }, digest);
      if (repeat !== null) return { outcome: 'hit', entry: repeat, similarity: 1, embedding };

      let vector: number[];
      try {
        ({ vector, call: embedding } = await this.embed(
          request,
          settings.embeddingModel,
          read.text,
        ));
      } catch (error) {
        return { outcome: 'skip', reason: 'embedding_failed', error, embedding };
      }
      const nearest = await repository.nearest({
        ...scope,
        now: this.now(),
        embedding: vector,
        minSimilarity: settings.threshold,
      });
      if (nearest !== null) return { outcome: 'hit', ...nearest, embedding };
      const pending = { tenantId: request.tenantId, scope, textDigest: digest, vector, settings };
      return { outcome: 'miss', embedding, pending };
    } catch (error) {
      return { outcome: 'skip', reason: 'unavailable', error, embedding };
    }
  }

  /**
   * Keeps the upstream's answer to a miss, for the settings' lifetime; expired entries go,
   * and the oldest beyond the tenant's entry cap, which bounds the next lookups' scan.
   */
  async store(
    pending: PendingEntry,
    response: JsonObject,
    usage: Usage,
  ): Promise<SemanticCacheEntry> {
    const repository = await this.repository(pending.tenantId);
    if (repository === null) throw new Error('the semantic cache table is missing');
    const now = this.now();
    const entry = await repository.insert({
      ...pending.scope,
      embedding: pending.vector,
      textDigest: pending.textDigest,
      response,
      usage,
      createdAt: now,
      expiresAt: new Date(now.getTime() + pending.settings.ttlSeconds * 1000),
    });
    await repository.purgeExpired(now);
    await repository.trim(pending.settings.maxEntries);
    return entry;
  }

  /** The entries' count and size, for the tenant's cache statistics. */
  async stats(tenantId: string) {
    const repository = await this.repository(tenantId);
    return repository === null ? { entries: 0, bytes: 0 } : repository.stats();
  }

  /** Drops every entry of the tenant; returns how many there were. */
  async purge(tenantId: string): Promise<number> {
    const repository = await this.repository(tenantId);
    return repository === null ? 0 : repository.purgeAll();
  }

  /** Embeds through the inference service: the same routing, keys and retries as a request. */
  private async embed(
    request: SemanticRequest,
    modelName: string,
    text: string,
  ): Promise<{ vector: number[]; call: EmbeddingCall }> {
    const model: ModelConfig = this.options.catalog.resolve(modelName, 'embeddings');
    const result = await this.options.inference.complete(
      'embeddings',
      { model: modelName, input: text, encoding_format: 'float' },
      {
        signal: request.call.signal,
        requestId: request.call.requestId,
        trace: request.call.trace,
        clientTrace: request.call.clientTrace,
        tenantId: request.tenantId,
        // The tenant chose the embedding model in its settings, not the caller's key.
        mayUse: () => true,
      },
      model,
    );
    return {
      vector: vectorOf(result.body),
      call: {
        model: result.model.name,
        provider: result.deployment.providerId,
        deployment: result.deployment.id,
        attempts: result.attempts,
        usage: result.usage,
        cost: costOf(result.usage, result.deployment.pricing),
      },
    };
  }

  private async repository(tenantId: string): Promise<SemanticCacheRepository | null> {
    const repository = new SemanticCacheRepository(await this.options.database(tenantId));
    let ready = this.prepared.get(tenantId);
    if (ready === undefined) {
      ready = repository.prepare();
      this.prepared.set(tenantId, ready);
      // A server without pgvector may get it later: ask again next time.
      void ready.then(
        (found) => found || this.prepared.delete(tenantId),
        () => this.prepared.delete(tenantId),
      );
    }
    return (await ready) ? repository : null;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }
}

/** The first embedding of an OpenAI embeddings response, as finite numbers, not all zero. */
function vectorOf(body: JsonObject): number[] {
  const data = Array.isArray(body.data) ? (body.data as { embedding?: unknown }[]) : [];
  const vector = data[0]?.embedding;
  if (
    !Array.isArray(vector) ||
    vector.length === 0 ||
    !vector.every((value) => typeof value === 'number' && Number.isFinite(value)) ||
    vector.every((value) => value === 0)
  )
    throw new Error('the embedding model returned no usable vector');
  return vector as number[];
}
