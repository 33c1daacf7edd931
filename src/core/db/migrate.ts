import type { Database } from './index.ts';

/** A schema step owned by one module. `sql` may differ per dialect. Ids sort in apply order per module. */
export interface Migration {
  id: string;
  sql: string | { sqlite: string; postgres: string };
}

export async function migrate(db: Database, migrations: Migration[]): Promise<number> {
  // Under the lock too: on PostgreSQL two concurrent CREATE TABLE IF NOT EXISTS can still collide.
  await db.tx(async (t) => {
    await t.lock('schema_migrations');
    await t.run('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
  });
  const done = new Set((await db.all<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id));
  let applied = 0;
  for (const m of migrations) {
    if (done.has(m.id)) continue;
    const sql = typeof m.sql === 'string' ? m.sql : m.sql[db.dialect];
    await db.tx(async (t) => {
      // Several processes may start at once on PostgreSQL: one applies, the others wait and skip.
      await t.lock('schema_migrations');
      if (await t.get('SELECT id FROM schema_migrations WHERE id = ?', [m.id])) return;
      for (const stmt of splitSql(sql)) await t.run(stmt);
      await t.run('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)', [m.id, new Date().toISOString()]);
      applied++;
    });
  }
  return applied;
}

function splitSql(sql: string): string[] {
  return sql.split(/;\s*(?:\n|$)/).map((s) => s.trim()).filter(Boolean);
}
