import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database, Param, Row, Tx } from './index.ts';
import { Mutex } from '../mutex.ts';

// node:sqlite is synchronous and has one connection, so a transaction must not interleave with
// other statements: a process-wide mutex serialises transactions, and statements outside a
// transaction wait while one is open. Statements are cached by SQL text.
// A statement (or a new tx) on the Database from inside one of its own open transactions would
// wait for itself forever; it is refused with an error naming the mistake instead.
export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  private stmts = new Map<string, StatementSync>();
  private mutex = new Mutex();
  private current = new AsyncLocalStorage<SqliteTx>();
  private db: DatabaseSync;
  private constructor(db: DatabaseSync) { this.db = db; }

  static open(file: string): SqliteDatabase {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const db = new DatabaseSync(file);
    db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;');
    return new SqliteDatabase(db);
  }

  private stmt(sql: string): StatementSync {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  // Called with the mutex free or held by the caller's transaction.
  execAll(sql: string, params: Param[] = []): Row[] {
    return this.stmt(sql).all(...(params.map(norm) as any[])) as Row[];
  }
  execRun(sql: string, params: Param[] = []): { changes: number } {
    if (!params.length && /;\s*\S/.test(sql)) { this.db.exec(sql); return { changes: 0 }; }
    const r = this.stmt(sql).run(...(params.map(norm) as any[]));
    return { changes: Number(r.changes) };
  }

  private checkNotInsideTx() {
    const open = this.current.getStore();
    if (open && !open.done) {
      throw new Error('Database used inside one of its own transactions: use the transaction handle instead (it would wait for itself forever)');
    }
  }

  private async outside<T>(fn: () => T): Promise<T> {
    this.checkNotInsideTx();
    if (!this.mutex.locked) return fn();
    return this.mutex.run(async () => fn());
  }
  all<T = Row>(sql: string, params?: Param[]) { return this.outside(() => this.execAll(sql, params) as T[]); }
  async get<T = Row>(sql: string, params?: Param[]) { return (await this.all<T>(sql, params))[0]; }
  run(sql: string, params?: Param[]) { return this.outside(() => this.execRun(sql, params)); }

  async tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    this.checkNotInsideTx();
    return this.mutex.run(async () => {
      const hooks: Array<() => void> = [];
      const t = new SqliteTx(this, hooks);
      this.db.exec('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await this.current.run(t, () => fn(t));
        this.db.exec('COMMIT');
      } catch (err) {
        try { this.db.exec('ROLLBACK'); } catch { /* already rolled back */ }
        throw err;
      } finally {
        t.done = true;
      }
      for (const h of hooks) queueMicrotask(h);
      return result;
    });
  }

  async close() { this.db.close(); }
}

class SqliteTx implements Tx {
  readonly dialect = 'sqlite' as const;
  readonly forUpdate = '';
  done = false;
  private owner: SqliteDatabase;
  private hooks: Array<() => void>;
  constructor(owner: SqliteDatabase, hooks: Array<() => void>) { this.owner = owner; this.hooks = hooks; }
  private check() { if (this.done) throw new Error('transaction already finished'); }
  async all<T = Row>(sql: string, params?: Param[]) { this.check(); return this.owner.execAll(sql, params) as T[]; }
  async get<T = Row>(sql: string, params?: Param[]) { this.check(); return this.owner.execAll(sql, params)[0] as T | undefined; }
  async run(sql: string, params?: Param[]) { this.check(); return this.owner.execRun(sql, params); }
  tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> { return fn(this); }
  async lock(_key: string) { /* transactions are already serialised */ }
  afterCommit(fn: () => void) { this.hooks.push(fn); }
}

function norm(p: Param): any {
  if (typeof p === 'boolean') return p ? 1 : 0;
  if (p === undefined) return null;
  return p;
}
