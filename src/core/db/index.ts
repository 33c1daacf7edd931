// One small data layer over SQLite (node:sqlite, embedded default) and PostgreSQL (pg).
// SQL is written once in the common subset: `?` placeholders, TEXT/INTEGER/BIGINT/DOUBLE
// PRECISION columns, booleans as INTEGER 0/1, JSON as TEXT, timestamps as ISO-8601 TEXT.
// Where the dialects differ, code asks `db.dialect` or uses the helpers below.

export type Param = string | number | bigint | null | boolean | Uint8Array;
export type Row = Record<string, any>;

export interface Queryable {
  readonly dialect: 'sqlite' | 'postgres';
  all<T = Row>(sql: string, params?: Param[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: Param[]): Promise<T | undefined>;
  run(sql: string, params?: Param[]): Promise<{ changes: number }>;
  /** Runs fn in a transaction; nested calls on a transaction handle join the outer one. */
  tx<T>(fn: (t: Tx) => Promise<T>): Promise<T>;
}

export interface Tx extends Queryable {
  /** Serialises concurrent transactions on `key` until this transaction ends (quota, IPAM ...). */
  lock(key: string): Promise<void>;
  /** Runs after a successful commit (e.g. wake the task workers). */
  afterCommit(fn: () => void): void;
  /** " FOR UPDATE" on PostgreSQL, "" on SQLite where transactions are already serialised. */
  readonly forUpdate: string;
}

export interface Database extends Queryable {
  close(): Promise<void>;
}

export async function openDatabase(url: string): Promise<Database> {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { PostgresDatabase } = await import('./postgres.ts');
    return PostgresDatabase.open(url);
  }
  const { SqliteDatabase } = await import('./sqlite.ts');
  return SqliteDatabase.open(url.replace(/^sqlite:/, ''));
}

/** True when err is a unique-constraint violation in either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errcode?: number; message?: string };
  return e?.code === '23505' || /UNIQUE constraint failed/.test(e?.message ?? '');
}

export const bool = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 't';
export const toJson = (v: unknown): string => JSON.stringify(v ?? null);
export function fromJson<T = any>(v: unknown, dflt: T): T {
  if (v === null || v === undefined || v === '') return dflt;
  try { return JSON.parse(String(v)) as T; } catch { return dflt; }
}
