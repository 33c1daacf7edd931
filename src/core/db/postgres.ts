import pg from 'pg';
import type { Database, Param, Row, Tx } from './index.ts';

// BIGINT and COUNT(*) come back as strings by default; our values fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

/** Rewrites `?` placeholders to `$n`, leaving quoted strings alone. */
export function toPg(sql: string): string {
  let n = 0, out = '', q: string | null = null;
  for (const ch of sql) {
    if (q) { if (ch === q) q = null; out += ch; continue; }
    if (ch === "'" || ch === '"') { q = ch; out += ch; continue; }
    out += ch === '?' ? `$${++n}` : ch;
  }
  return out;
}

// Booleans are stored as INTEGER 0/1 (the common subset); pg would send 'true', which INTEGER rejects.
const norm = (p: Param) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : p);

export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;
  private pool: pg.Pool;
  private constructor(pool: pg.Pool) { this.pool = pool; }

  static async open(url: string): Promise<PostgresDatabase> {
    const pool = new pg.Pool({ connectionString: url, max: Number(process.env.VISTACK_PG_POOL ?? 10) });
    pool.on('error', () => { /* idle client errors surface on the next query */ });
    await pool.query('SELECT 1');
    return new PostgresDatabase(pool);
  }

  async all<T = Row>(sql: string, params: Param[] = []) {
    return (await this.pool.query(toPg(sql), params.map(norm))).rows as T[];
  }
  async get<T = Row>(sql: string, params?: Param[]) { return (await this.all<T>(sql, params))[0]; }
  async run(sql: string, params: Param[] = []) {
    const r = await this.pool.query(params.length ? toPg(sql) : sql, params.map(norm));
    return { changes: r.rowCount ?? 0 };
  }

  async tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const hooks: Array<() => void> = [];
    const t = new PgTx(client, hooks);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(t);
      await client.query('COMMIT');
      for (const h of hooks) queueMicrotask(h);
      return result;
    } catch (err) {
      // A connection that cannot even roll back is dropped rather than handed to the next caller.
      await client.query('ROLLBACK').catch((e) => { broken = e; });
      throw err;
    } finally {
      t.done = true;
      client.release(broken);
    }
  }

  async close() { await this.pool.end(); }
}

class PgTx implements Tx {
  readonly dialect = 'postgres' as const;
  readonly forUpdate = ' FOR UPDATE';
  done = false;
  private c: pg.PoolClient;
  private hooks: Array<() => void>;
  constructor(c: pg.PoolClient, hooks: Array<() => void>) { this.c = c; this.hooks = hooks; }
  // After the end the connection is back in the pool, maybe inside someone else's transaction.
  private client() { if (this.done) throw new Error('transaction already finished'); return this.c; }
  async all<T = Row>(sql: string, params: Param[] = []) { return (await this.client().query(toPg(sql), params.map(norm))).rows as T[]; }
  async get<T = Row>(sql: string, params?: Param[]) { return (await this.all<T>(sql, params))[0]; }
  async run(sql: string, params: Param[] = []) {
    const r = await this.client().query(params.length ? toPg(sql) : sql, params.map(norm));
    return { changes: r.rowCount ?? 0 };
  }
  tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> { return fn(this); }
  async lock(key: string) { await this.client().query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]); }
  afterCommit(fn: () => void) { this.hooks.push(fn); }
}
