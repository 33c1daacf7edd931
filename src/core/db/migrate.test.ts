// Migrations: each applied exactly once, across restarts and concurrent starts, on every dialect.
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Database } from './index.ts';
import { migrate, type Migration } from './migrate.ts';
import { freshDatabase, testDialects } from './testing.ts';

const v1: Migration[] = [
  { id: 'demo-001-widgets', sql: `CREATE TABLE widgets (id TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE INDEX widgets_name_idx ON widgets (name)` },
  { id: 'demo-002-seed', sql: `INSERT INTO widgets (id, name) VALUES ('w1', 'first')` },
];
const v2: Migration[] = [
  ...v1,
  // A dialect-specific step picks the variant of the database it runs on.
  { id: 'demo-003-dialect', sql: {
    sqlite: `INSERT INTO widgets (id, name) VALUES ('w2', 'sqlite')`,
    postgres: `INSERT INTO widgets (id, name) VALUES ('w2', 'postgres')`,
  } },
];

for (const dialect of testDialects) {
  describe(`migrations on ${dialect}`, () => {
    let url = '';
    let cleanup = () => {};
    const open: Database[] = [];
    const connect = async () => { const db = await openDatabase(url); open.push(db); return db; };
    beforeEach(async () => { ({ url, cleanup } = await freshDatabase(dialect)); });
    afterEach(async () => { for (const db of open.splice(0)) await db.close(); cleanup(); });

    test('are applied once, in order, and are idempotent across restarts', async () => {
      const db = await connect();
      assert.equal(await migrate(db, v1), 2);
      assert.equal(await migrate(db, v1), 0, 'a second run applies nothing');
      await db.close(); open.pop();

      const again = await connect(); // a restart of the process
      assert.equal(await migrate(again, v1), 0);
      assert.equal(await migrate(again, v2), 1, 'only the new migration is applied');
      const rows = await again.all<{ id: string; name: string }>(`SELECT id, name FROM widgets ORDER BY id`);
      assert.deepEqual(rows.map((r) => ({ ...r })), [{ id: 'w1', name: 'first' }, { id: 'w2', name: dialect }]);
      const ids = await again.all<{ id: string }>(`SELECT id FROM schema_migrations ORDER BY id`);
      assert.deepEqual(ids.map((r) => r.id), ['demo-001-widgets', 'demo-002-seed', 'demo-003-dialect']);
    });

    test('a failing migration leaves nothing behind and is retried on the next start', async () => {
      const db = await connect();
      const broken: Migration[] = [{ id: 'demo-001-broken', sql: `CREATE TABLE half (id TEXT PRIMARY KEY);
        CREATE TABLE half_two (id TEXT PRIMARY KEY, nonsense NOT_A_TYPE_AT_ALL ((` }];
      await assert.rejects(migrate(db, broken));
      // The first statement of the failed migration was rolled back with it.
      await assert.rejects(db.get(`SELECT id FROM half`));
      assert.equal(await db.get(`SELECT id FROM schema_migrations WHERE id = 'demo-001-broken'`), undefined);
      const fixed: Migration[] = [{ id: 'demo-001-broken', sql: `CREATE TABLE half (id TEXT PRIMARY KEY)` }];
      assert.equal(await migrate(db, fixed), 1);
      assert.deepEqual(await db.all(`SELECT id FROM half`), []);
    });

    if (dialect === 'postgres') {
      test('concurrent starts on one PostgreSQL apply each migration exactly once', async () => {
        const dbs = await Promise.all([connect(), connect(), connect()]);
        const applied = await Promise.all(dbs.map((db) => migrate(db, v2)));
        assert.equal(applied.reduce((a, b) => a + b, 0), 3);
        const rows = await dbs[0].all(`SELECT id FROM widgets ORDER BY id`);
        assert.deepEqual(rows.map((r) => r.id), ['w1', 'w2']);
      });
    }
  });
}
