import { type Kysely, sql } from 'kysely';
import type { TenantSchema } from '../tenant-schema.js';
import { summedCharges } from './summed-charges.js';

/** Which usage records to sum into time buckets. */
export interface BucketSelection {
  /** Unix seconds: the first bucket's start, inclusive. */
  start: number;
  /** Unix seconds: the end, exclusive. */
  end: number;
  /** The buckets' width in seconds. */
  width: number;
  userIds?: readonly string[];
  keyIds?: readonly string[];
  models?: readonly string[];
}

/** One bucket's usage of one model, user, key and plan currency. */
export interface BucketRow {
  /** The bucket's index from `start`. */
  bucket: number;
  model: string;
  userId: string | null;
  keyId: string;
  /** The plan's currency of the charge; null for usage charged under no plan. */
  currency: string | null;
  requests: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  charge: { input: number; cached: number; output: number; other: number };
}

/**
 * Usage in fixed-width time buckets, at the finest grain (model, user, key, currency): what
 * OpenAI's usage and costs endpoints are answered from, each grouping as they ask.
 */
export class UsageBucketRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async rows(selection: BucketSelection): Promise<BucketRow[]> {
    const { start, end, width } = selection;
    const bucket = sql<string>`floor((extract(epoch from usage_records.at) - ${start}) / ${width})`;
    let query = this.db
      .selectFrom('usage_records')
      .leftJoin('price_plans', 'price_plans.id', 'usage_records.price_plan_id')
      .select([
        bucket.as('bucket'),
        'usage_records.model',
        'usage_records.user_id',
        'usage_records.key_id',
        'price_plans.currency',
        sql<string>`count(*)`.as('requests'),
        sql<string>`sum(input_tokens)`.as('input_tokens'),
        sql<string>`sum(least(cached_tokens, input_tokens))`.as('cached_tokens'),
        sql<string>`sum(output_tokens)`.as('output_tokens'),
        sql<string>`sum(charge_input_micros)`.as('charge_input'),
        sql<string>`sum(charge_cached_micros)`.as('charge_cached'),
        sql<string>`sum(charge_output_micros)`.as('charge_output'),
        sql<string>`sum(charge_other_micros)`.as('charge_other'),
      ])
      .where('usage_records.at', '>=', new Date(start * 1000))
      .where('usage_records.at', '<', new Date(end * 1000));
    if (selection.userIds)
      query = query.where('usage_records.user_id', 'in', [...selection.userIds]);
    if (selection.keyIds) query = query.where('usage_records.key_id', 'in', [...selection.keyIds]);
    if (selection.models) query = query.where('usage_records.model', 'in', [...selection.models]);
    // By position: the bucket's expression carries parameters, which GROUP BY cannot repeat.
    const rows = await query.groupBy([sql`1`, sql`2`, sql`3`, sql`4`, sql`5`]).execute();
    return rows.map((row) => ({
      bucket: Number(row.bucket),
      model: row.model,
      userId: row.user_id,
      keyId: row.key_id,
      currency: row.currency ?? null,
      requests: Number(row.requests),
      inputTokens: Number(row.input_tokens),
      cachedTokens: Number(row.cached_tokens),
      outputTokens: Number(row.output_tokens),
      charge: summedCharges(row),
    }));
  }
}
