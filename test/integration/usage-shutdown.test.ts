import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { compose } from '../../src/composition/root.js';
import { loadConfig } from '../../src/config/load.js';
import { closeGracefully, startServer } from '../../src/server.js';

describe('usage at a graceful stop, embedded', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'llm-backend-usage-stop-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('writes every request that got a response before the databases close', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' });
    const { app, firstStart } = await startServer(config);
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const client = new OpenAI({
      apiKey: firstStart.defaultTenantKey ?? '',
      baseURL: `http://127.0.0.1:${port}/v1`,
      maxRetries: 0,
    });
    let sent = 0;
    for (let i = 0; i < 20; i++) {
      await client.chat.completions.create({
        model: 'mock-chat',
        messages: [{ role: 'user', content: `hello ${i}` }],
      });
      sent += 1;
    }
    // Asked to stop the moment the last response is out: its event is still on its way.
    await closeGracefully(app, 5000);

    const root = await compose(config, { role: 'cli' });
    const services = root.services;
    try {
      const rows = await services.tenants
        .database(await services.tenants.get('default'))
        .selectFrom('usage_records')
        .select('request_id')
        .execute();
      expect(rows).toHaveLength(sent);
    } finally {
      await root.close();
    }
  }, 120_000);
});
