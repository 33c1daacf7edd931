// Durable task engine. A slow operation is a row in `tasks`, inserted in the same transaction as
// the desired state it converges (Kubernetes-controller style), claimed by a worker under a
// lease, retried with backoff, and resumed after a crash: a process that restarts with the same
// node id reclaims its own running tasks at once, other nodes' tasks are reclaimed when their
// lease runs out. Tasks on one resource run one at a time, in the order they were written.
// Handlers must be idempotent: a task may run again after a crash at any point.
import type { Database, Queryable, Tx } from './db/index.ts';
import type { Migration } from './db/migrate.ts';
import { uuid, nowIso } from './ids.ts';

export interface TaskRecord {
  id: string;
  kind: string;
  resource_id: string | null;
  payload: any;
  attempts: number;
  max_attempts: number;
}

export interface TaskHandler {
  run(task: TaskRecord): Promise<void>;
  /** Called once when the task gives up (attempts exhausted or a PermanentError). */
  onFailure?(task: TaskRecord, err: unknown): Promise<void>;
}

/** Thrown by a handler to give up at once, without retries. */
export class PermanentError extends Error {}

export interface EnqueueOptions {
  resourceId?: string;
  delayMs?: number;
  maxAttempts?: number;
}

export const taskMigrations: Migration[] = [{
  id: 'core-001-tasks',
  sql: `CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    resource_id TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 5,
    seq BIGINT NOT NULL,
    run_after BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    owner TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX tasks_state_idx ON tasks (state, run_after);
  CREATE INDEX tasks_resource_idx ON tasks (resource_id, seq)`,
}];

let lastSeq = 0;
/** Monotonic within a process, roughly time-ordered across processes. */
function nextSeq(): number {
  lastSeq = Math.max(lastSeq + 1, Date.now() * 1000);
  return lastSeq;
}

export interface TaskEngineOptions {
  nodeId: string;
  concurrency: number;
  leaseMs?: number;
  pollMs?: number;
  log?: (msg: string, extra?: unknown) => void;
}

export class TaskEngine {
  private handlers = new Map<string, TaskHandler>();
  private running = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private stopped = true;
  private pumping = false;
  private again = false;
  /** The claim under way (a pump), awaited by stop(). */
  private pumped: Promise<void> = Promise.resolve();
  /** The heartbeat write under way, awaited by stop(). */
  private beating: Promise<void> = Promise.resolve();
  /** Bumped when stop() gives up on running handlers: their late outcomes are not written. */
  private generation = 0;
  /** The engine's writes about finished tasks under way (see recording()). */
  private writes = new Set<Promise<void>>();
  private readonly leaseMs: number;
  private readonly pollMs: number;

  private db: Database;
  private opts: TaskEngineOptions;
  constructor(db: Database, opts: TaskEngineOptions) {
    this.db = db;
    this.opts = opts;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 250;
  }

  register(kind: string, handler: TaskHandler) {
    if (this.handlers.has(kind)) throw new Error(`task kind ${kind} registered twice`);
    this.handlers.set(kind, handler);
  }

  /** Writes a task in the caller's transaction; workers are woken once it commits. */
  async enqueue(q: Queryable | Tx, kind: string, payload: unknown, o: EnqueueOptions = {}): Promise<string> {
    const id = uuid();
    const now = Date.now(), ts = nowIso();
    await q.run(
      `INSERT INTO tasks (id, kind, resource_id, payload, state, attempts, max_attempts, seq, run_after, lease_until, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, 0, ?, ?)`,
      [id, kind, o.resourceId ?? null, JSON.stringify(payload ?? null), o.maxAttempts ?? 5, nextSeq(), now + (o.delayMs ?? 0), ts, ts],
    );
    if ('afterCommit' in q) q.afterCommit(() => this.kick());
    else this.kick();
    return id;
  }

  async start() {
    this.stopped = false;
    // Our previous incarnation died holding these: take them back now rather than at lease expiry.
    await this.db.run(`UPDATE tasks SET lease_until = 0 WHERE state = 'running' AND owner = ?`, [this.opts.nodeId]);
    this.heartbeat = setInterval(() => {
      if (!this.running.size || this.stopped) return;
      const ids = [...this.running.keys()];
      this.beating = this.db.run(`UPDATE tasks SET lease_until = ? WHERE owner = ? AND state = 'running' AND id IN (${ids.map(() => '?').join(',')})`,
        [Date.now() + this.leaseMs, this.opts.nodeId, ...ids]).then(() => {}, (e) => this.opts.log?.('task heartbeat failed', e));
    }, Math.max(20, this.leaseMs / 3)); // three beats per lease: one lost write does not lose the lease
    this.heartbeat.unref();
    this.kick();
  }

  /**
   * Stops claiming and waits for the claim under way (what it claimed is handed back unrun) and,
   * up to graceMs, for running tasks. Tasks still running then are abandoned: they stay claimed
   * under their lease, so this node takes them back at restart and others when the lease runs
   * out, and whatever their handlers do later is not recorded. Once stop() resolves the engine
   * does not touch the database, so the caller may close it.
   */
  async stop(graceMs = 5000) {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    await this.pumped;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()]),
      new Promise((r) => { timer = setTimeout(r, graceMs).unref(); }),
    ]);
    clearTimeout(timer);
    // From here on no task's outcome is written; wait for the writes already begun.
    this.generation++;
    await Promise.all([this.beating, ...this.writes]);
  }

  kick() {
    if (this.stopped) return;
    if (this.pumping) { this.again = true; return; }
    clearTimeout(this.timer);
    this.pumping = true;
    this.pumped = this.pump().catch((e) => this.opts.log?.('task claim failed', e)).finally(() => {
      this.pumping = false;
      if (this.stopped) return;
      if (this.again) { this.again = false; setImmediate(() => this.kick()); return; }
      this.timer = setTimeout(() => this.kick(), this.pollMs);
      this.timer.unref();
    });
  }

  /**
   * Resolves when no task is running, due now, or waiting to be retried, anywhere (tasks enqueued
   * with a delay for later are not waited for). For tests and benchmarks.
   */
  async idle(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.db.get<{ n: number }>(
        `SELECT COUNT(*) AS n FROM tasks WHERE state = 'running' OR (state = 'pending' AND (run_after <= ? OR attempts > 0))`, [Date.now()]);
      if (!Number(r?.n)) return;
      if (Date.now() > deadline) throw new Error('tasks still running after timeout');
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  private async pump() {
    const free = this.opts.concurrency - this.running.size;
    if (free <= 0) return;
    const claimed = await this.claim(free);
    if (this.stopped) {
      // stop() came while we were claiming: hand the tasks back as if never claimed.
      await this.release(claimed);
      return;
    }
    const generation = this.generation;
    for (const t of claimed) {
      const p = this.execute(t, generation)
        .catch((e) => { if (generation === this.generation) this.opts.log?.(`task ${t.kind} ${t.id} bookkeeping failed`, e); })
        .finally(() => { this.running.delete(t.id); this.kick(); });
      this.running.set(t.id, p);
    }
    if (claimed.length === free) this.again = true;
  }

  private async claim(limit: number): Promise<TaskRecord[]> {
    const now = Date.now();
    const kinds = [...this.handlers.keys()];
    if (!kinds.length) return [];
    const busy = [...this.running.keys()];
    return this.db.tx(async (t) => {
      const skip = t.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
      const rows = await t.all<any>(
        `SELECT id, kind, resource_id, payload, attempts, max_attempts FROM tasks t
         WHERE ((t.state = 'pending' AND t.run_after <= ?) OR (t.state = 'running' AND t.lease_until < ?))
           AND t.kind IN (${kinds.map(() => '?').join(',')})
           ${busy.length ? `AND t.id NOT IN (${busy.map(() => '?').join(',')})` : ''}
           AND (t.resource_id IS NULL OR NOT EXISTS (
             SELECT 1 FROM tasks o WHERE o.resource_id = t.resource_id AND o.seq < t.seq AND o.state IN ('pending', 'running')))
         ORDER BY t.seq LIMIT ?${skip}`,
        [now, now, ...kinds, ...busy, limit]);
      const out: TaskRecord[] = [];
      for (const r of rows) {
        const u = await t.run(
          `UPDATE tasks SET state = 'running', owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?`,
          [this.opts.nodeId, now + this.leaseMs, nowIso(), r.id]);
        if (u.changes) out.push({ ...r, payload: JSON.parse(r.payload), attempts: Number(r.attempts) + 1, max_attempts: Number(r.max_attempts) });
      }
      return out;
    });
  }

  private async release(tasks: TaskRecord[]) {
    if (!tasks.length) return;
    const ids = tasks.map((t) => t.id);
    await this.db.run(`UPDATE tasks SET state = 'pending', owner = NULL, lease_until = 0, attempts = attempts - 1, updated_at = ?
      WHERE owner = ? AND state = 'running' AND id IN (${ids.map(() => '?').join(',')})`, [nowIso(), this.opts.nodeId, ...ids]);
  }

  /**
   * Runs one claimed task and records its outcome, unless stop() has abandoned it meanwhile. The
   * engine's own writes go through `recording` so that stop() can wait for one already begun.
   */
  private async execute(task: TaskRecord, generation: number) {
    const h = this.handlers.get(task.kind)!;
    const abandoned = () => generation !== this.generation;
    try {
      await h.run(task);
    } catch (err) {
      if (abandoned()) return;
      const msg = err instanceof Error ? err.message : String(err);
      const last = err instanceof PermanentError || task.attempts >= task.max_attempts;
      // A worker whose lease ran out (stalled, partitioned) no longer owns the task: another node
      // has taken it over, so this late failure must neither reschedule it nor fail it.
      const mine = `id = ? AND owner = ? AND state = 'running'`;
      if (last) {
        if (!(await this.recording(() => this.db.get(`SELECT id FROM tasks WHERE ${mine}`, [task.id, this.opts.nodeId])))) return;
        this.opts.log?.(`task ${task.kind} ${task.id} failed: ${msg}`);
        try { await h.onFailure?.(task, err); } catch (e) { this.opts.log?.(`task ${task.kind} onFailure failed`, e); }
        if (abandoned()) return;
        await this.recording(() => this.db.run(`UPDATE tasks SET state = 'failed', last_error = ?, updated_at = ? WHERE ${mine}`,
          [msg, nowIso(), task.id, this.opts.nodeId]));
      } else {
        const backoff = Math.min(30_000, 100 * 2 ** task.attempts);
        await this.recording(() => this.db.run(`UPDATE tasks SET state = 'pending', run_after = ?, last_error = ?, updated_at = ? WHERE ${mine}`,
          [Date.now() + backoff, msg, nowIso(), task.id, this.opts.nodeId]));
      }
      return;
    }
    if (abandoned()) return;
    await this.recording(() => this.db.run(`DELETE FROM tasks WHERE id = ? AND owner = ?`, [task.id, this.opts.nodeId]));
  }

  /** Runs one of the engine's own writes about a task, known to stop() until it settles. */
  private recording<T>(write: () => Promise<T>): Promise<T> {
    const p = write();
    const settled = p.then(() => {}, () => {});
    this.writes.add(settled);
    settled.finally(() => this.writes.delete(settled));
    return p;
  }
}
