import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_DATABASE_URL } from './services.js';

/** A login role standing in for a second PostgreSQL server. */
export interface ServerRole {
  name: string;
  /** TEST_DATABASE_URL as that role: its `url_env` value. */
  url: string;
  /** Drops whatever databases the role still owns, then the role. */
  drop(): Promise<void>;
}

/**
 * The suite has one PostgreSQL. The same server reached as another role (LOGIN CREATEDB, as
 * the docs require) behaves as a second one for the gateway: different pools, and the
 * databases it creates are owned by that role, which tells where each tenant went.
 */
export async function createServerRole(): Promise<ServerRole> {
  const name = `llmb_test_srv_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`create role "${name}" login createdb`);
    // Membership lets the suite's own role drop what this one created, without SUPERUSER.
    await admin.query(`grant "${name}" to current_user`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.username = name;
  url.password = '';
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        const { rows } = await client.query<{ datname: string }>(
          'select datname from pg_database d join pg_roles r on r.oid = d.datdba where r.rolname = $1',
          [name],
        );
        for (const row of rows) {
          await client.query(`drop database if exists "${row.datname}" with (force)`);
        }
        await client.query(`drop role if exists "${name}"`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The role that owns a database, or null when there is no such database. */
export async function ownerOf(databaseName: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string }>(
      'select r.rolname as owner from pg_database d join pg_roles r on r.oid = d.datdba where d.datname = $1',
      [databaseName],
    );
    return rows[0]?.owner ?? null;
  } finally {
    await client.end();
  }
}
