// Test support for the data layer (no dependency on the rest of the cloud, so core tests run
// whatever state the service modules are in). CI sets VISTACK_TEST_DATABASE_URL to a PostgreSQL
// database; every test that opens a "fresh" one empties it first, so tests run one at a time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The dialects the core's own tests run on: SQLite always, PostgreSQL when CI provides one. */
export const testDialects: Array<'sqlite' | 'postgres'> = process.env.VISTACK_TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];

/**
 * An empty database of the given dialect: a new SQLite file in a temporary directory, or the
 * test PostgreSQL database with its public schema emptied. `url` may be opened several times
 * (a "restart", a second process); `cleanup` removes the SQLite directory.
 */
export async function freshDatabase(dialect: 'sqlite' | 'postgres'): Promise<{ url: string; cleanup(): void }> {
  if (dialect === 'postgres') {
    const url = process.env.VISTACK_TEST_DATABASE_URL;
    if (!url) throw new Error('VISTACK_TEST_DATABASE_URL is not set');
    await resetPostgres(url);
    return { url, cleanup() {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'vistack-db-test-'));
  return { url: `sqlite:${join(dir, 'test.db')}`, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Drops every table, index and sequence of the PostgreSQL database by recreating its public schema. */
export async function resetPostgres(url: string) {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
  } finally {
    await c.end();
  }
}
