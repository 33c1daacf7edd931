// The durable task engine on every test dialect: ordering, retries, failure, concurrency,
// leases and crash recovery (including a real kill -9 of a worker process).
// Run as a child process (VISTACK_TASKS_CHILD set) this file is that worker instead of tests.
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase, type Database, type Param, type Queryable, type Tx } from './db/index.ts';
import { migrate } from './db/migrate.ts';
import { freshDatabase, testDialects } from './db/testing.ts';
import { TaskEngine, PermanentError, taskMigrations, type TaskEngineOptions, type TaskRecord } from './tasks.ts';

const CHILD_KIND = 'test.hang';

if (process.env.VISTACK_TASKS_CHILD) {
  // The worker that gets killed: it claims every task, records that it started, and hangs.
  const db = await openDatabase(process.env.VISTACK_TASKS_CHILD);
  const engine = new TaskEngine(db, { nodeId: 'worker-1', concurrency: 16, leaseMs: 60_000, pollMs: 20 });
  const want = Number(process.env.VISTACK_TASKS_CHILD_COUNT);
  let started = 0;
  engine.register(CHILD_KIND, {
    async run(task) {
      await db.run(`INSERT INTO task_log (task_id, node, attempt) VALUES (?, ?, ?)`, [task.id, 'worker-1', task.attempts]);
      if (++started === want) process.stdout.write('all started\n');
      await new Promise(() => {}); // never finishes: the process is killed while "working"
    },
  });
  await engine.start();
} else {
  for (const dialect of testDialects) describe(`task engine on ${dialect}`, () => engineTests(dialect));
}

function engineTests(dialect: 'sqlite' | 'postgres') {
  let db: Database;
  let url = '';
  let cleanup = () => {};
  let engines: TaskEngine[] = [];
  const engine = (o: Partial<TaskEngineOptions> = {}, on: Database = db) => {
    const e = new TaskEngine(on, { nodeId: 'node-a', concurrency: 8, pollMs: 20, ...o });
    engines.push(e);
    return e;
  };
  const row = (id: string) => db.get(`SELECT state, attempts, owner, lease_until, run_after, last_error FROM tasks WHERE id = ?`, [id]);

  beforeEach(async () => {
    ({ url, cleanup } = await freshDatabase(dialect));
    db = await openDatabase(url);
    await migrate(db, taskMigrations);
    await db.run(`CREATE TABLE task_log (task_id TEXT NOT NULL, node TEXT NOT NULL, attempt INTEGER NOT NULL)`);
  });
  afterEach(async () => {
    for (const e of engines) await e.stop(0);
    engines = [];
    await db.close();
    cleanup();
  });

  test('tasks of one resource run one at a time, in the order they were enqueued', async () => {
    const e = engine({ concurrency: 8 });
    const order: Record<string, number[]> = { r1: [], r2: [] };
    const active: Record<string, number> = { r1: 0, r2: 0 };
    let overlap = false;
    let maxActive = 0, activeTotal = 0;
    e.register('test.step', {
      async run(t) {
        const { r, i } = t.payload;
        if (++active[r] > 1) overlap = true;
        maxActive = Math.max(maxActive, ++activeTotal);
        await sleep(5 - (i % 3)); // later tasks are quicker: a wrong order would show
        order[r].push(i);
        active[r]--; activeTotal--;
      },
    });
    await db.tx(async (t) => {
      for (let i = 0; i < 6; i++) {
        await e.enqueue(t, 'test.step', { r: 'r1', i }, { resourceId: 'r1' });
        await e.enqueue(t, 'test.step', { r: 'r2', i }, { resourceId: 'r2' });
      }
    });
    await e.start();
    await e.idle();
    assert.deepEqual(order, { r1: [0, 1, 2, 3, 4, 5], r2: [0, 1, 2, 3, 4, 5] });
    assert.equal(overlap, false, 'two tasks of one resource ran at the same time');
    assert.equal(maxActive, 2, 'different resources run side by side');
    assert.equal((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM tasks`))!.n, 0, 'finished tasks are removed');
  });

  test('a task enqueued in a rolled-back transaction never runs', async () => {
    const e = engine();
    const ran: string[] = [];
    e.register('test.once', { async run(t) { ran.push(t.payload); } });
    await e.start();
    await assert.rejects(db.tx(async (t) => {
      await e.enqueue(t, 'test.once', 'rolled back');
      throw new Error('validation failed');
    }));
    await db.tx(async (t) => { await e.enqueue(t, 'test.once', 'committed'); });
    await e.idle();
    assert.deepEqual(ran, ['committed']);
  });

  test('a failing task is retried with growing backoff, then onFailure runs once', async () => {
    const e = engine();
    const starts: number[] = [];
    const failures: Array<{ attempts: number; message: string }> = [];
    e.register('test.flaky', {
      async run(t) {
        starts.push(Date.now());
        // Between attempts the row records the error and when it may run again.
        if (t.attempts > 1) assert.match(String((await row(t.id))!.last_error), /attempt \d failed/);
        throw new Error(`attempt ${t.attempts} failed`);
      },
      async onFailure(t, err) { failures.push({ attempts: t.attempts, message: (err as Error).message }); },
    });
    await e.start();
    const id = await e.enqueue(db, 'test.flaky', {}, { maxAttempts: 3 });
    await e.idle();
    assert.equal(starts.length, 3);
    // Backoff is 100 ms * 2^attempt: never earlier than that.
    assert.ok(starts[1] - starts[0] >= 200, `second attempt after ${starts[1] - starts[0]} ms`);
    assert.ok(starts[2] - starts[1] >= 400, `third attempt after ${starts[2] - starts[1]} ms`);
    assert.deepEqual(failures, [{ attempts: 3, message: 'attempt 3 failed' }]);
    const r = await row(id);
    assert.equal(r!.state, 'failed');
    assert.equal(r!.last_error, 'attempt 3 failed');
  });

  test('a task that succeeds on a retry does not call onFailure', async () => {
    const e = engine();
    let calls = 0, failed = 0;
    e.register('test.second-time', {
      async run() { if (++calls === 1) throw new Error('transient'); },
      async onFailure() { failed++; },
    });
    await e.start();
    await e.enqueue(db, 'test.second-time', {});
    await e.idle();
    assert.equal(calls, 2);
    assert.equal(failed, 0);
    assert.equal((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM tasks`))!.n, 0);
  });

  test('PermanentError gives up at once: no retry, onFailure exactly once', async () => {
    const e = engine();
    let runs = 0;
    const failures: unknown[] = [];
    e.register('test.permanent', {
      async run() { runs++; throw new PermanentError('image is gone'); },
      async onFailure(_t, err) { failures.push(err); },
    });
    await e.start();
    const id = await e.enqueue(db, 'test.permanent', {}, { maxAttempts: 5 });
    await e.idle();
    await sleep(300); // a wrongly scheduled retry (backoff 200 ms) would run by now
    assert.equal(runs, 1);
    assert.equal(failures.length, 1);
    assert.ok(failures[0] instanceof PermanentError);
    const r = await row(id);
    assert.deepEqual([r!.state, r!.attempts, r!.last_error], ['failed', 1, 'image is gone']);
  });

  test('a failed task does not block later tasks of its resource', async () => {
    const e = engine();
    const ran: string[] = [];
    e.register('test.seq', {
      async run(t) { ran.push(t.payload); if (t.payload === 'bad') throw new PermanentError('no'); },
    });
    await db.tx(async (t) => {
      await e.enqueue(t, 'test.seq', 'bad', { resourceId: 'vm' });
      await e.enqueue(t, 'test.seq', 'next', { resourceId: 'vm' });
    });
    await e.start();
    await e.idle();
    assert.deepEqual(ran, ['bad', 'next']);
  });

  test('no more than `concurrency` tasks run at once', async () => {
    const e = engine({ concurrency: 3 });
    let active = 0, max = 0, done = 0;
    e.register('test.busy', {
      async run() {
        max = Math.max(max, ++active);
        await sleep(15);
        active--; done++;
      },
    });
    await db.tx(async (t) => { for (let i = 0; i < 12; i++) await e.enqueue(t, 'test.busy', { i }); });
    await e.start();
    await e.idle();
    assert.equal(done, 12);
    assert.equal(max, 3);
  });

  test('a live worker keeps its lease by heartbeat: nobody else runs its task', async () => {
    // Generous margins: A and B share this process, so an event-loop stall delays A's heartbeat.
    const a = engine({ nodeId: 'node-a', leaseMs: 1000 });
    const b = engine({ nodeId: 'node-b', leaseMs: 1000 });
    const runs: string[] = [];
    for (const [name, eng] of [['a', a], ['b', b]] as const) {
      eng.register('test.long', { async run() { runs.push(name); await sleep(2500); } });
    }
    await a.start();
    await a.enqueue(db, 'test.long', {});
    while (!runs.length) await sleep(5);
    await b.start(); // polls every 20 ms for expired leases during two and a half lease periods
    await a.idle();
    assert.deepEqual(runs, ['a']);
  });

  test('a dead node\'s task is reclaimed by another node when its lease runs out', async () => {
    const a = engine({ nodeId: 'node-a', leaseMs: 300 });
    const b = engine({ nodeId: 'node-b', leaseMs: 300 });
    let releaseA!: () => void, releaseB!: () => void;
    const stuckA = new Promise<void>((r) => (releaseA = r));
    const stuckB = new Promise<void>((r) => (releaseB = r));
    let startedA!: () => void;
    const aStarted = new Promise<void>((r) => (startedA = r));
    a.register('test.work', { async run() { startedA(); await stuckA; throw new Error('too late'); } });
    const byB: TaskRecord[] = [];
    b.register('test.work', { async run(t) { byB.push(t); await stuckB; } });

    await a.start();
    const id = await a.enqueue(db, 'test.work', { vm: 1 }, { resourceId: 'vm-1' });
    await aStarted;
    await a.stop(0); // node A "dies": no more heartbeats, its handler never returns in time
    const leaseUntil = Number((await row(id))!.lease_until);
    assert.equal((await row(id))!.owner, 'node-a');

    await b.start();
    while (!byB.length) await sleep(10);
    assert.ok(Date.now() >= leaseUntil, 'taken over only after the lease ran out');
    assert.equal(byB[0].attempts, 2);
    assert.deepEqual(byB[0].payload, { vm: 1 });

    // Node A's stale handler fails while B works: it must not reschedule or fail B's task.
    releaseA();
    await sleep(100);
    const during = await row(id);
    assert.deepEqual([during!.state, during!.owner], ['running', 'node-b']);
    releaseB();
    await b.idle();
    assert.equal(byB.length, 1);
    assert.equal(await row(id), undefined, 'finished by node B');
  });

  test('a restart with the same node id reclaims its running tasks at once', async () => {
    const first = engine({ nodeId: 'node-a', leaseMs: 120_000 });
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    first.register('test.resume', { async run() { started(); await new Promise(() => {}); } });
    await first.start();
    const id = await first.enqueue(db, 'test.resume', {});
    await running;
    await first.stop(0);
    assert.ok(Number((await row(id))!.lease_until) > Date.now() + 60_000, 'the lease is still far in the future');

    const second = engine({ nodeId: 'node-a', leaseMs: 120_000 });
    const attempts: number[] = [];
    second.register('test.resume', { async run(t) { attempts.push(t.attempts); } });
    await second.start();
    await second.idle(10_000); // would time out if it waited for the two-minute lease
    assert.deepEqual(attempts, [2]);
  });

  test('stop() during a claim hands the claimed tasks back unrun, and then the engine leaves the database alone', async () => {
    const w = watched(db);
    const e = engine({}, w);
    const ran: string[] = [];
    e.register('test.late', { async run(t) { ran.push(t.id); } });
    await e.start();
    const claim = w.holdNextTx();
    const id = await e.enqueue(db, 'test.late', {});
    await claim.entered; // the engine is claiming, and will claim the task...
    const stopping = e.stop();
    claim.release(); // ...while the cloud is closing
    await stopping;
    w.closed = true; // what the cloud does next: close the database
    await claim.done;
    await new Promise((r) => setImmediate(r)); // whatever the claim would start next has started
    assert.deepEqual(w.late, [], 'the engine used the database after stop() resolved');
    assert.deepEqual(ran, [], 'no task runs after stop()');
    const r = await row(id);
    assert.deepEqual([r!.state, Number(r!.attempts), r!.owner, Number(r!.lease_until)], ['pending', 0, null, 0], 'handed back as if never claimed');

    // Not left to a lease: another node runs it at once, as its first attempt.
    const b = engine({ nodeId: 'node-b', leaseMs: 120_000 });
    const attempts: number[] = [];
    b.register('test.late', { async run(t) { attempts.push(t.attempts); } });
    await b.start();
    await b.idle(10_000);
    assert.deepEqual(attempts, [1]);
  });

  test('handlers still running when stop() gives up are abandoned to their lease: their outcome is not written', async () => {
    const w = watched(db);
    const e = engine({ leaseMs: 120_000 }, w);
    const finish: Record<string, () => void> = {};
    const failures: string[] = [];
    let started = 0, allStarted!: () => void;
    const running = new Promise<void>((r) => (allStarted = r));
    e.register('test.slow', {
      async run(t) {
        if (++started === 2) allStarted();
        await new Promise<void>((r) => (finish[t.payload] = r));
        if (t.payload === 'fails') throw new PermanentError('late failure');
      },
      async onFailure(t) { failures.push(t.payload); },
    });
    await e.start();
    const ok = await e.enqueue(db, 'test.slow', 'succeeds', { resourceId: 'vm-1' });
    const bad = await e.enqueue(db, 'test.slow', 'fails', { resourceId: 'vm-2' });
    await running;
    await e.stop(0);
    w.closed = true;
    finish.succeeds();
    finish.fails();
    await new Promise((r) => setImmediate(r)); // the handlers have returned and the engine has reacted
    assert.deepEqual(w.late, [], 'the engine used the database after stop() resolved');
    assert.deepEqual(failures, [], 'onFailure is not run for an abandoned task');
    for (const id of [ok, bad]) {
      const r = await row(id);
      assert.deepEqual([r!.state, r!.owner, Number(r!.attempts)], ['running', 'node-a', 1], 'still claimed: resumed at restart or after the lease');
    }
  });

  test('after a kill -9 of a worker process, a restart finishes its tasks', async () => {
    const N = 5;
    const e = engine({ nodeId: 'worker-1', leaseMs: 60_000 });
    const ids: string[] = [];
    await db.tx(async (t) => { for (let i = 0; i < N; i++) ids.push(await e.enqueue(t, CHILD_KIND, { i }, { resourceId: `vm-${i}` })); });

    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, VISTACK_TASKS_CHILD: url, VISTACK_TASKS_CHILD_COUNT: String(N) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, sig) => r(sig)));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => { out += d; if (out.includes('all started')) resolve(); });
      child.on('exit', (code) => reject(new Error(`worker exited early (${code}): ${out}`)));
    });
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const states = await db.all(`SELECT state, owner FROM tasks ORDER BY seq`);
    assert.deepEqual(states.map((s) => `${s.state}/${s.owner}`), Array(N).fill('running/worker-1'));

    // The same node comes back (same node id) with a handler that completes.
    const finished: Array<{ i: number; attempts: number }> = [];
    e.register(CHILD_KIND, { async run(t) { finished.push({ i: t.payload.i, attempts: t.attempts }); } });
    await e.start();
    await e.idle(10_000);
    assert.deepEqual(finished.sort((x, y) => x.i - y.i), Array.from({ length: N }, (_, i) => ({ i, attempts: 2 })));
    const logged = await db.all(`SELECT task_id FROM task_log ORDER BY task_id`);
    assert.deepEqual(logged.map((l) => l.task_id), [...ids].sort(), 'each task had started in the killed worker');
    assert.equal((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM tasks`))!.n, 0);
  });
}

/**
 * The test's database as an engine sees it: once `closed` is set (the cloud has closed the
 * database) every statement the engine sends is noted in `late`; holdNextTx() stops the next
 * transaction at its start until release(), so that stop() can come while a claim is under way.
 */
function watched(db: Database) {
  let hold: { entered(): void; go: Promise<void>; started(p: Promise<unknown>): void } | null = null;
  const note = (sql: string) => { if (w.closed) w.late.push(sql.trim().split(/\s+/).slice(0, 2).join(' ')); };
  const statements = (q: Queryable) => ({
    all: <T>(sql: string, p?: Param[]) => { note(sql); return q.all<T>(sql, p); },
    get: <T>(sql: string, p?: Param[]) => { note(sql); return q.get<T>(sql, p); },
    run: (sql: string, p?: Param[]) => { note(sql); return q.run(sql, p); },
  });
  const w = {
    dialect: db.dialect,
    closed: false,
    late: [] as string[],
    ...statements(db),
    async tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
      note('BEGIN transaction');
      const h = hold;
      hold = null;
      if (h) { h.entered(); await h.go; }
      const p = db.tx((t) => fn({ ...statements(t), dialect: t.dialect, forUpdate: t.forUpdate, tx: t.tx.bind(t), lock: t.lock.bind(t), afterCommit: t.afterCommit.bind(t) }));
      h?.started(p);
      return p;
    },
    close: () => db.close(),
    holdNextTx() {
      let entered!: () => void, release!: () => void, settled!: () => void;
      const h = {
        entered: new Promise<void>((r) => (entered = r)),
        /** Settles when the held transaction has ended, committed or not. */
        done: new Promise<void>((r) => (settled = r)),
        release: () => release(),
      };
      hold = { entered, go: new Promise<void>((r) => (release = r)), started: (p) => { p.then(settled, settled); } };
      return h;
    },
  };
  return w;
}
