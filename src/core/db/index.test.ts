// The data layer on every dialect the tests have: SQLite always, PostgreSQL when
// VISTACK_TEST_DATABASE_URL is set. The same SQL must behave the same on both.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase, isUniqueViolation, type Database, type Tx } from './index.ts';
import { toPg } from './postgres.ts';
import { freshDatabase, testDialects } from './testing.ts';

test('toPg numbers placeholders and leaves quoted question marks alone', () => {
  assert.equal(toPg(`SELECT ? , 'what?', "odd?col" FROM t WHERE a = ? AND b = ?`),
    `SELECT $1 , 'what?', "odd?col" FROM t WHERE a = $2 AND b = $3`);
  assert.equal(toPg(`SELECT 'it''s?' WHERE x = ?`), `SELECT 'it''s?' WHERE x = $1`);
});

for (const dialect of testDialects) {
  describe(`data layer on ${dialect}`, () => {
    let db: Database;
    let cleanup = () => {};
    before(async () => {
      const fresh = await freshDatabase(dialect);
      cleanup = fresh.cleanup;
      db = await openDatabase(fresh.url);
      await db.run(`CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL, big BIGINT, ratio DOUBLE PRECISION, flag INTEGER, note TEXT)`);
      await db.run(`CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`);
    });
    after(async () => { await db.close(); cleanup(); });

    test('reports its dialect', () => assert.equal(db.dialect, dialect));

    test('placeholders, quoted question marks and column types round-trip', async () => {
      await db.run(`INSERT INTO items (id, n, big, ratio, flag, note) VALUES (?, ?, ?, ?, ?, 'what?')`,
        ['p1', 7, 2 ** 40, 0.25, true]);
      await db.run(`INSERT INTO items (id, n, big, ratio, flag, note) VALUES (?, ?, ?, ?, ?, ?)`,
        ['p2', 8, null, null, false, 'plain']);
      const r = await db.get(`SELECT id, n, big, ratio, flag FROM items WHERE note = 'what?' AND n = ?`, [7]);
      // Booleans are stored as 0/1 and BIGINT comes back as a number on both dialects.
      assert.deepEqual({ ...r }, { id: 'p1', n: 7, big: 2 ** 40, ratio: 0.25, flag: 1 });
      const p2 = await db.get(`SELECT flag, big FROM items WHERE id = ?`, ['p2']);
      assert.deepEqual({ ...p2 }, { flag: 0, big: null });
      const c = await db.get<{ n: number; s: number }>(`SELECT COUNT(*) AS n, SUM(n) AS s FROM items WHERE id IN (?, ?)`, ['p1', 'p2']);
      assert.equal(c!.n, 2);
      assert.equal(c!.s, 15);
      assert.equal(await db.get(`SELECT id FROM items WHERE id = ?`, ['missing']), undefined);
      await db.run(`DELETE FROM items`);
    });

    test('LIKE with LOWER() is the portable case-insensitive match', async () => {
      await db.run(`INSERT INTO items (id, n, note) VALUES (?, ?, ?)`, ['l1', 1, 'Cirros Image']);
      const rows = await db.all(`SELECT id FROM items WHERE LOWER(note) LIKE ?`, ['%cirros%']);
      assert.deepEqual(rows.map((x) => x.id), ['l1']);
      await db.run(`DELETE FROM items`);
    });

    test('text sorts byte-wise on both dialects (PostgreSQL database with LC_COLLATE C)', async () => {
      const names = ['b', 'B', '_x', 'a', 'Z', 'é', '10', '9'];
      for (const [i, n] of names.entries()) await db.run(`INSERT INTO items (id, n, note) VALUES (?, ?, ?)`, [`s${i}`, i, n]);
      const rows = await db.all<{ note: string }>(`SELECT note FROM items ORDER BY note`);
      // Paging markers compare with `>`; both dialects must agree on the order they page through.
      assert.deepEqual(rows.map((r) => r.note), ['10', '9', 'B', 'Z', '_x', 'a', 'b', 'é']);
      const after = await db.all<{ note: string }>(`SELECT note FROM items WHERE note > ? ORDER BY note`, ['Z']);
      assert.deepEqual(after.map((r) => r.note), ['_x', 'a', 'b', 'é']);
      await db.run(`DELETE FROM items`);
    });

    test('run() reports the number of changed rows', async () => {
      await db.run(`INSERT INTO items (id, n) VALUES (?, ?), (?, ?), (?, ?)`, ['c1', 1, 'c2', 1, 'c3', 2]);
      assert.equal((await db.run(`UPDATE items SET n = n + 1 WHERE n = ?`, [1])).changes, 2);
      assert.equal((await db.run(`DELETE FROM items WHERE id = ?`, ['nope'])).changes, 0);
      assert.equal((await db.run(`DELETE FROM items`)).changes, 3);
    });

    test('a transaction commits all its writes', async () => {
      const out = await db.tx(async (t) => {
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['t1', 1]);
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['t2', 2]);
        return 'result';
      });
      assert.equal(out, 'result');
      assert.equal((await db.all(`SELECT id FROM items WHERE id IN ('t1', 't2')`)).length, 2);
      await db.run(`DELETE FROM items`);
    });

    test('a throwing transaction rolls back every write and rethrows', async () => {
      const boom = new Error('boom');
      await assert.rejects(db.tx(async (t) => {
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['r1', 1]);
        await t.run(`UPDATE counters SET value = 99`);
        throw boom;
      }), (e) => e === boom);
      assert.equal(await db.get(`SELECT id FROM items WHERE id = 'r1'`), undefined);
      // A statement error rolls back too, and the database stays usable afterwards.
      await assert.rejects(db.tx(async (t) => {
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['r2', 1]);
        await t.run(`INSERT INTO no_such_table (x) VALUES (1)`);
      }));
      assert.equal(await db.get(`SELECT id FROM items WHERE id = 'r2'`), undefined);
      assert.equal((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM items`))!.n, 0);
    });

    test('a nested tx joins the outer one: it commits and rolls back with it', async () => {
      await assert.rejects(db.tx(async (t) => {
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['n1', 1]);
        await t.tx(async (inner) => {
          assert.equal(inner, t);
          await inner.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['n2', 2]);
        });
        // The inner "commit" did not commit: the outer failure takes both rows away.
        throw new Error('outer fails');
      }));
      assert.equal((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM items`))!.n, 0);

      const hooks: string[] = [];
      await db.tx(async (t) => {
        await t.tx(async (inner) => {
          await inner.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['n3', 3]);
          inner.afterCommit(() => hooks.push('inner'));
        });
        assert.deepEqual(hooks, [], 'the inner afterCommit waits for the outer commit');
      });
      assert.deepEqual(hooks, ['inner']);
      assert.ok(await db.get(`SELECT id FROM items WHERE id = 'n3'`));
      await db.run(`DELETE FROM items`);
    });

    test('afterCommit runs only after a commit, and sees the committed data', async () => {
      const calls: string[] = [];
      let seen: Promise<unknown> | undefined;
      await db.tx(async (t) => {
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['a1', 1]);
        t.afterCommit(() => {
          calls.push('committed');
          seen = db.get(`SELECT id FROM items WHERE id = 'a1'`);
        });
        assert.deepEqual(calls, []);
      });
      assert.deepEqual(calls, ['committed']);
      assert.ok(await seen, 'the hook reads the committed row from outside the transaction');

      await assert.rejects(db.tx(async (t) => {
        t.afterCommit(() => calls.push('rolled back'));
        throw new Error('no');
      }));
      await sleep(10); // hooks are queued as microtasks: give a wrongly queued one every chance to run
      assert.deepEqual(calls, ['committed']);
      await db.run(`DELETE FROM items`);
    });

    test('a transaction handle cannot be used after its transaction ended', async () => {
      let kept: Tx | undefined;
      await db.tx(async (t) => { kept = t; });
      await assert.rejects(kept!.get('SELECT 1 AS x'), /transaction already finished/);
      await assert.rejects(kept!.run(`INSERT INTO items (id, n) VALUES ('late', 1)`), /transaction already finished/);
      assert.equal(await db.get(`SELECT id FROM items WHERE id = 'late'`), undefined);
    });

    test('lock() serialises concurrent read-modify-write transactions', async () => {
      await db.run(`INSERT INTO counters (name, value) VALUES ('hits', 0)`);
      const N = 50;
      await Promise.all(Array.from({ length: N }, () => db.tx(async (t) => {
        await t.lock('counter:hits');
        const r = await t.get<{ value: number }>(`SELECT value FROM counters WHERE name = 'hits'`);
        await sleep(1); // widen the window between read and write
        await t.run(`UPDATE counters SET value = ? WHERE name = 'hits'`, [r!.value + 1]);
      })));
      const r = await db.get<{ value: number }>(`SELECT value FROM counters WHERE name = 'hits'`);
      assert.equal(r!.value, N);
      await db.run(`DELETE FROM counters`);
    });

    test('isUniqueViolation recognises duplicate keys and nothing else', async () => {
      await db.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['u1', 1]);
      const dup = await db.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['u1', 2]).then(() => null, (e) => e);
      assert.ok(dup, 'duplicate insert must fail');
      assert.equal(isUniqueViolation(dup), true);
      const notNull = await db.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['u2', null]).then(() => null, (e) => e);
      assert.ok(notNull, 'NULL into NOT NULL must fail');
      assert.equal(isUniqueViolation(notNull), false);
      assert.equal(isUniqueViolation(new Error('something else')), false);
      // Inside a transaction the violation rolls the transaction back and surfaces to the caller.
      const inTx = await db.tx(async (t) => {
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['u3', 1]);
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['u1', 1]);
      }).then(() => null, (e) => e);
      assert.equal(isUniqueViolation(inTx), true);
      assert.equal(await db.get(`SELECT id FROM items WHERE id = 'u3'`), undefined);
      await db.run(`DELETE FROM items`);
    });

    test('a statement outside a transaction never sees its uncommitted writes', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let inside!: () => void;
      const started = new Promise<void>((r) => (inside = r));
      const txDone = db.tx(async (t) => {
        await t.run(`INSERT INTO items (id, n) VALUES (?, ?)`, ['o1', 1]);
        inside();
        await gate;
      });
      await started;
      let answered = false;
      const outside = db.get(`SELECT id FROM items WHERE id = 'o1'`).finally(() => { answered = true; });
      if (dialect === 'sqlite') {
        // One connection: the outside statement waits for the transaction to end, then sees its row.
        await sleep(50);
        assert.equal(answered, false, 'an outside statement must wait while an SQLite transaction is open');
        release();
        await txDone;
        assert.ok(await outside);
      } else {
        // A pooled connection: the outside statement answers at once, without the uncommitted row.
        assert.equal(await outside, undefined);
        release();
        await txDone;
        assert.ok(await db.get(`SELECT id FROM items WHERE id = 'o1'`));
      }
      await db.run(`DELETE FROM items`);
    });

    if (dialect === 'sqlite') {
      test('using the Database inside its own transaction is refused instead of hanging', async () => {
        await assert.rejects(db.tx(async () => { await db.get('SELECT 1 AS x'); }), /use the transaction handle/);
        await assert.rejects(db.tx(async () => { await db.tx(async () => {}); }), /use the transaction handle/);
        // The transaction's own afterCommit hooks and later work are not affected.
        let hookResult: Promise<unknown> | undefined;
        await db.tx(async (t) => { t.afterCommit(() => { hookResult = db.get('SELECT 1 AS x'); }); });
        assert.deepEqual({ ...(await hookResult) as object }, { x: 1 });
      });
    }
  });
}
