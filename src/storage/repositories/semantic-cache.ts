import { type Kysely, type Selectable, sql } from 'kysely';
import type { Usage } from '../../domain/usage-record.js';
import { newId } from '../../utils/ids.js';
import {
  createSemanticCacheSchema,
  vectorUsable,
} from '../migrations/tenant/0010-semantic-cache.js';
import type { SemanticCacheEntriesTable, TenantSchema } from '../tenant-schema.js';

/** One stored answer and what it answered. */
export interface SemanticCacheEntry {
  id: string;
  model: string;
  embeddingModel: string;
  dimensions: number;
  paramsDigest: string;
  textDigest: string;
  response: Record<string, unknown>;
  usage: Usage;
  bytes: number;
  createdAt: Date;
  expiresAt: Date;
}

export interface NewSemanticCacheEntry {
  model: string;
  embeddingModel: string;
  embedding: readonly number[];
  paramsDigest: string;
  textDigest: string;
  response: Record<string, unknown>;
  usage: Usage;
  createdAt: Date;
  expiresAt: Date;
}

/** Which entries may answer: the same model, request fields and embedding model. */
export interface EntryScope {
  model: string;
  paramsDigest: string;
  embeddingModel: string;
  now: Date;
}

export interface NearestQuery extends EntryScope {
  embedding: readonly number[];
  /** Cosine similarity, -1 to 1: nothing less similar is returned. */
  minSimilarity: number;
}

export interface SemanticCacheStats {
  entries: number;
  /** The stored responses' size, without the vectors and the row overhead. */
  bytes: number;
}

/** pgvector's text input; finite values only (the caller checks). */
export function vectorLiteral(values: readonly number[]): string {
  return `[${values.join(',')}]`;
}

function toEntry(
  row: Omit<Selectable<SemanticCacheEntriesTable>, 'embedding'>,
): SemanticCacheEntry {
  return {
    id: row.id,
    model: row.model,
    embeddingModel: row.embedding_model,
    dimensions: row.dimensions,
    paramsDigest: row.params_digest,
    textDigest: row.text_digest,
    response: row.response,
    usage: row.usage as unknown as Usage,
    bytes: row.bytes,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
  };
}

const ENTRY_COLUMNS = [
  'id',
  'model',
  'embedding_model',
  'dimensions',
  'params_digest',
  'text_digest',
  'response',
  'usage',
  'bytes',
  'created_at',
  'expires_at',
] as const;

/** The semantic cache of one tenant, in its own database (pgvector). */
export class SemanticCacheRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  /**
   * Whether the table is there: the migration leaves it out where pgvector was missing or
   * the role could not create it. Makes it once that changed; false while it has not.
   */
  async prepare(): Promise<boolean> {
    const { rows } = await sql<{
      found: string | null;
    }>`select to_regclass('semantic_cache_entries')::text as found`.execute(this.db);
    if (rows[0]?.found != null) return true;
    const db = this.db as unknown as Kysely<unknown>;
    if (!(await vectorUsable(db))) return false;
    await createSemanticCacheSchema(db);
    return true;
  }

  async insert(entry: NewSemanticCacheEntry): Promise<SemanticCacheEntry> {
    const response = JSON.stringify(entry.response);
    const row = await this.db
      .insertInto('semantic_cache_entries')
      .values({
        id: newId('sce'),
        model: entry.model,
        embedding_model: entry.embeddingModel,
        dimensions: entry.embedding.length,
        embedding: vectorLiteral(entry.embedding),
        params_digest: entry.paramsDigest,
        text_digest: entry.textDigest,
        response,
        usage: JSON.stringify(entry.usage),
        bytes: Buffer.byteLength(response),
        created_at: entry.createdAt,
        expires_at: entry.expiresAt,
      })
      .returning(ENTRY_COLUMNS)
      .executeTakeFirstOrThrow();
    return toEntry(row);
  }

  /**
   * The live entry of the model and embedding model most similar to the vector, if it is
   * similar enough. An exact scan: no approximate index, so nothing similar enough is
   * missed. The distance is only computed for vectors of the query's length (the CASE
   * keeps PostgreSQL from comparing two lengths, which pgvector refuses), and a zero vector's
   * NaN distance is never "similar enough".
   */
  async nearest(
    query: NearestQuery,
  ): Promise<{ entry: SemanticCacheEntry; similarity: number } | null> {
    const vector = vectorLiteral(query.embedding);
    const distance = sql<number>`case when dimensions = ${query.embedding.length} then embedding <=> ${vector}::vector end`;
    const row = await this.db
      .selectFrom((eb) =>
        eb
          .selectFrom('semantic_cache_entries')
          .select([...ENTRY_COLUMNS, distance.as('distance')])
          .where('model', '=', query.model)
          .where('params_digest', '=', query.paramsDigest)
          .where('embedding_model', '=', query.embeddingModel)
          .where('expires_at', '>', query.now)
          .as('candidates'),
      )
      .selectAll()
      .where('distance', '<=', 1 - query.minSimilarity)
      .orderBy('distance')
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (row === undefined) return null;
    return { entry: toEntry(row), similarity: 1 - Number(row.distance) };
  }

  /** The newest live entry made from exactly this text: a repeat needs no embedding. */
  async exact(scope: EntryScope, textDigest: string): Promise<SemanticCacheEntry | null> {
    const row = await this.db
      .selectFrom('semantic_cache_entries')
      .select(ENTRY_COLUMNS)
      .where('model', '=', scope.model)
      .where('params_digest', '=', scope.paramsDigest)
      .where('embedding_model', '=', scope.embeddingModel)
      .where('text_digest', '=', textDigest)
      .where('expires_at', '>', scope.now)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? null : toEntry(row);
  }

  /** Removes expired entries; returns how many. */
  async purgeExpired(now: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('semantic_cache_entries')
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Removes every entry; returns how many. */
  async purgeAll(): Promise<number> {
    const result = await this.db.deleteFrom('semantic_cache_entries').executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Keeps the newest `max` entries, removing the rest; returns how many went. */
  async trim(max: number): Promise<number> {
    const result = await this.db
      .deleteFrom('semantic_cache_entries')
      .where(
        'id',
        'in',
        this.db
          .selectFrom('semantic_cache_entries')
          .select('id')
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .offset(max),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async stats(): Promise<SemanticCacheStats> {
    const row = await this.db
      .selectFrom('semantic_cache_entries')
      .select((eb) => [
        eb.fn.countAll<string>().as('entries'),
        eb.fn.coalesce(eb.fn.sum<string>('bytes'), sql<string>`0`).as('bytes'),
      ])
      .executeTakeFirstOrThrow();
    return { entries: Number(row.entries), bytes: Number(row.bytes) };
  }
}
