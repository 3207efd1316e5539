import { expect } from 'vitest';
import { eventually } from './gateway.js';
import type { TestServices } from './tenant-services.js';
import { openQueue } from './usage-queues.js';

export interface RecordRow {
  request_id: string;
  cost: string | number;
}

export async function usageRows(services: TestServices, slug: string): Promise<RecordRow[]> {
  return services.tenants
    .database(await services.tenants.get(slug))
    .selectFrom('usage_records')
    .select(['request_id', 'cost'])
    .execute();
}

/**
 * Waits until the usage stream has no backlog and every answered request id (by tenant slug)
 * has its record, then checks that no request has two: exactly once. A request cut after its
 * answer was committed may have one too, so a tenant may have more records than answers.
 */
export async function expectExactlyOnce(
  services: TestServices,
  queueOf: { stream: string; redisUrl: string },
  answered: Record<string, string[]>,
): Promise<Record<string, RecordRow[]>> {
  const queue = openQueue('redis', { stream: queueOf.stream, url: queueOf.redisUrl });
  try {
    await eventually(async () => {
      for (const [slug, ids] of Object.entries(answered)) {
        const found = new Set((await usageRows(services, slug)).map((row) => row.request_id));
        for (const id of ids) expect(found.has(id), `${slug} ${id}`).toBe(true);
      }
      expect(await queue.backlog()).toBe(0);
    }, 60_000);
  } finally {
    await queue.close();
  }
  const rows: Record<string, RecordRow[]> = {};
  for (const [slug, ids] of Object.entries(answered)) {
    rows[slug] = await usageRows(services, slug);
    const recorded = rows[slug].map((row) => row.request_id);
    expect(new Set(recorded).size, `${slug}: a request recorded twice`).toBe(recorded.length);
    expect(new Set(ids).size, `${slug}: a request id answered twice`).toBe(ids.length);
    expect(recorded.length).toBeGreaterThanOrEqual(ids.length);
  }
  return rows;
}
