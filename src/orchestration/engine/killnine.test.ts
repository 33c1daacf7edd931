// Crash recovery of the engine for real: a child process running Heat on a data directory is
// SIGKILLed in the middle of a stack create, of an update and of a delete, and started again on
// the same directory each time. The operation must finish as if nothing had happened: every
// resource exactly once, nothing left after the delete. The child runs the whole cloud
// (startCloud), as src/main.ts would.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';

const CHILD_DIR = process.env.VISTACK_HEAT_KILL9_DIR;
const STACK = 'kill9';
const caller = { userId: 'kill9-user', projectId: 'kill9-project', roles: ['member'], isAdmin: false };

/** ~20 resources with small waits: chains of TestResources, random strings and a group. */
function template(version: 1 | 2): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  const n = version === 1 ? 12 : 14;
  for (let i = 0; i < n; i++) {
    resources[`r${i}`] = {
      type: 'OS::Heat::TestResource',
      properties: { value: `v${version}-${i}`, action_wait_secs: { create: 0.4, update: 0.4, delete: 0.3 } },
      ...(i >= 4 ? { depends_on: [`r${i - 4}`] } : {}),
    };
  }
  for (let i = 0; i < (version === 1 ? 4 : 3); i++) resources[`pw${i}`] = { type: 'OS::Heat::RandomString', properties: { length: 8 } };
  resources.g = {
    type: 'OS::Heat::ResourceGroup',
    properties: {
      count: version === 1 ? 4 : 6,
      resource_def: { type: 'OS::Heat::TestResource', properties: { value: `m${version}-%index%`, action_wait_secs: { create: 0.4, update: 0.4, delete: 0.3 } } },
    },
  };
  return { heat_template_version: '2016-04-08', resources, outputs: { members: { value: { get_attr: ['g', 'output'] } } } };
}

async function runChild(dir: string) {
  const { startCloud } = await import('../../app.ts');
  const { orchestrationEngine } = await import('../index.ts');
  const cloud = await startCloud({ dataDir: dir, port: 0 }, { ...process.env, VISTACK_NODE_ID: 'heat-kill9', VISTACK_LOG_LEVEL: 'fatal' });
  const engine = orchestrationEngine(cloud.ctx);
  const op = process.env.VISTACK_HEAT_KILL9_OP;
  const stack = await engine.find(caller, STACK);
  if (op === 'create') await engine.create(caller, { stack_name: STACK, template: template(1) });
  if (op === 'update') await engine.update(caller, stack!.id, { stack_name: STACK, template: template(2) }, { patch: false });
  if (op === 'delete') await engine.delete(caller, stack!.id);
  process.stdout.write('ready\n');
  setInterval(() => {}, 1000); // stays up until killed
}

if (CHILD_DIR) {
  await runChild(CHILD_DIR);
} else {
  const dataDir = mkdtempSync(join(tmpdir(), 'heat-kill9-'));
  let child: ChildProcess | null = null;
  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (op = ''): Promise<ChildProcess> => new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, VISTACK_HEAT_KILL9_DIR: dataDir, VISTACK_HEAT_KILL9_OP: op };
    delete env.VISTACK_DATABASE_URL; // the data dir's SQLite file, which this test reads
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    const timer = setTimeout(() => reject(new Error(`child did not start: ${out}`)), 60_000);
    proc.stdout!.on('data', (b) => { out += String(b); if (out.includes('ready')) { clearTimeout(timer); resolve(proc); } });
    proc.stderr!.on('data', (b) => { out += String(b); });
    proc.on('exit', (code, sig) => { clearTimeout(timer); if (sig !== 'SIGKILL') reject(new Error(`child exited (${code}): ${out}`)); });
  });
  const kill = async (proc: ChildProcess) => {
    const exited = new Promise((r) => proc.once('exit', (_c, sig) => r(sig)));
    proc.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
  };

  /** Reads the data dir's database (the child may be writing). */
  const query = <T = any>(sql: string, params: any[] = []): T[] => {
    const db = new DatabaseSync(join(dataDir, 'vistack.db'));
    try {
      db.exec('PRAGMA busy_timeout=5000');
      return db.prepare(sql).all(...params) as T[];
    } finally { db.close(); }
  };
  const stackRow = () => query("SELECT * FROM heat_stacks WHERE name = ? AND parent_id IS NULL ORDER BY created_at DESC", [STACK])[0];
  const resources = (stackId: string) => query('SELECT * FROM heat_resources WHERE stack_id = ?', [stackId]);
  /** The stack and its live nested stacks (the group's). */
  const liveNested = (stackId: string) => query('SELECT * FROM heat_stacks WHERE parent_id = ? AND deleted_at IS NULL', [stackId]);

  async function until<T>(what: string, fn: () => T | null | undefined | false, ms = 60_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v) return v;
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The kill lands once some resources are done with `action` and some are not. */
  const midway = (action: string) => until(`${action} under way`, () => {
    const s = stackRow();
    if (!s || s.status !== 'IN_PROGRESS') return false;
    const rs = resources(s.id);
    const done = rs.filter((r) => r.action === action && r.status === 'COMPLETE').length;
    return done >= 3 && rs.some((r) => !(r.action === action && r.status === 'COMPLETE')) && s;
  });

  const settled = () => until('the stack to settle', () => { const s = stackRow(); return s && s.status !== 'IN_PROGRESS' && s; });

  /** Each name of the template exactly once, no replaced or leftover rows, all `state`. */
  function assertResources(stackId: string, names: string[], state: string) {
    const rs = resources(stackId);
    assert.deepEqual(rs.map((r) => r.name).sort(), [...names].sort(), 'every resource exactly once');
    for (const r of rs) {
      assert.equal(`${r.action}_${r.status}`, state, `${r.name}: ${r.status_reason}`);
      assert.ok(r.physical_id, `${r.name} has a physical id`);
    }
    const ids = rs.map((r) => r.physical_id);
    assert.equal(new Set(ids).size, ids.length, 'no two resources share a backing object');
  }

  it('finishes a create, an update and a delete each interrupted by kill -9', { timeout: 240_000 }, async () => {
    // create
    let proc = await start('create');
    const s = await midway('CREATE');
    await kill(proc);
    assert.equal(`${stackRow().action}_${stackRow().status}`, 'CREATE_IN_PROGRESS');
    proc = await start();
    let done = await settled();
    assert.equal(`${done.action}_${done.status}`, 'CREATE_COMPLETE', done.status_reason);
    assert.equal(done.id, s.id);
    const v1 = Object.keys((template(1) as any).resources);
    assertResources(s.id, v1, 'CREATE_COMPLETE');
    let nested = liveNested(s.id);
    assert.equal(nested.length, 1, 'one nested stack for the group');
    assertResources(nested[0].id, ['0', '1', '2', '3'], 'CREATE_COMPLETE');
    const creates = query("SELECT resource_name, COUNT(*) AS n FROM heat_events WHERE stack_id = ? AND action = 'CREATE' AND status = 'COMPLETE' GROUP BY resource_name", [s.id]);
    assert.ok(creates.every((e) => Number(e.n) === 1), 'each resource completed its create once');
    const pw0 = resources(s.id).find((r) => r.name === 'pw0')!;
    await kill(proc);

    // update: values change in place, resources added and removed, the group grows
    proc = await start('update');
    await midway('UPDATE');
    await kill(proc);
    proc = await start();
    done = await settled();
    assert.equal(`${done.action}_${done.status}`, 'UPDATE_COMPLETE', done.status_reason);
    const v2 = Object.keys((template(2) as any).resources);
    const rows = resources(s.id);
    assert.deepEqual(rows.map((r) => r.name).sort(), [...v2].sort(), 'every resource exactly once');
    for (const r of rows) assert.equal(r.status, 'COMPLETE', `${r.name}: ${r.status_reason}`);
    for (const r of rows.filter((x) => /^r\d+$/.test(x.name))) assert.equal(JSON.parse(r.data).value, `v2-${r.name.slice(1)}`);
    assert.equal(rows.find((r) => r.name === 'pw0')!.data, pw0.data, 'an unchanged random string kept its value');
    nested = liveNested(s.id);
    assert.equal(nested.length, 1);
    const members = resources(nested[0].id);
    assert.deepEqual(members.map((r) => r.name).sort(), ['0', '1', '2', '3', '4', '5']);
    for (const m of members) assert.equal(JSON.parse(m.data).value, `m2-${m.name}`);
    await kill(proc);

    // delete
    proc = await start('delete');
    await until('delete under way', () => {
      const st = stackRow();
      const left = resources(s.id).length;
      return st.action === 'DELETE' && st.status === 'IN_PROGRESS' && left > 0 && left < v2.length && st;
    }).catch(() => null); // a fast delete may finish first: the restart then has nothing to do
    await kill(proc);
    proc = await start();
    done = await until('the delete to finish', () => { const st = query('SELECT * FROM heat_stacks WHERE id = ?', [s.id])[0]; return st.status !== 'IN_PROGRESS' && st; });
    assert.equal(`${done.action}_${done.status}`, 'DELETE_COMPLETE', done.status_reason);
    assert.ok(done.deleted_at);
    assert.deepEqual(resources(s.id), []);
    const all = query('SELECT id FROM heat_stacks WHERE parent_id = ?', [s.id]);
    for (const n of all) assert.deepEqual(resources(n.id), [], 'nothing left in the nested stacks');
    assert.deepEqual(liveNested(s.id), []);
    await kill(proc);
    child = null;
  });
}
