// Crash recovery: the real process (src/main.ts) is SIGKILLed in the middle of a storm of
// concurrent creates and deletes, then started again on the same data directory. Every server
// must end ACTIVE or ERROR (none stuck in BUILD), deleted ones must be gone, and the simulated
// vCenter's VMs must be exactly the live servers' (no orphan, none missing).
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { inventoryFile } from '../../drivers/simulator/inventory.ts';

const root = new URL('../../../', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'vistack-kill9-'));
let child: ChildProcess | null = null;
after(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** With VISTACK_TEST_DATABASE_URL (CI's PostgreSQL) the process runs on it, from an empty schema. */
const pgUrl = process.env.VISTACK_TEST_DATABASE_URL;
async function resetPostgres() {
  if (!pgUrl) return;
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  try { await c.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public;'); } finally { await c.end(); }
}

/** Starts `node src/main.ts` on the data dir; resolves with its base URL once it is ready. */
function startMain(): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['src/main.ts'], {
      cwd: root,
      env: {
        ...process.env, VISTACK_DATA_DIR: dataDir, VISTACK_PORT: '0', VISTACK_PUBLIC_URL: '',
        ...(pgUrl ? { VISTACK_DATABASE_URL: pgUrl } : {}),
        // Slow vSphere tasks, so that the kill lands while builds are half done.
        VISTACK_SIM_LATENCY_MS: '40', VISTACK_LOG_LEVEL: 'fatal',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`main did not start: ${out}`)), 60_000);
    proc.stdout!.on('data', (b) => {
      out += String(b);
      const m = /auth URL:\s+(http:\/\/[^/\s]+)\//.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1] }); }
    });
    proc.stderr!.on('data', (b) => { out += String(b); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`main exited (${code}): ${out}`)); });
  });
}

async function token(url: string): Promise<string> {
  const r = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: 'secret' } } }, scope: { project: { name: 'admin', domain: { name: 'Default' } } } } }),
  });
  assert.equal(r.status, 201);
  return r.headers.get('x-subject-token')!;
}

async function call(url: string, tok: string, method: string, path: string, body?: unknown) {
  const r = await fetch(`${url}${path}`, {
    method, headers: { 'x-auth-token': tok, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

it('recovers from kill -9 in the middle of 30 concurrent creates', { timeout: 180_000 }, async () => {
  await resetPostgres();
  let { proc, url } = await startMain();
  child = proc;
  let tok = await token(url);
  const project = (await call(url, tok, 'GET', '/identity/v3/auth/projects')).body.projects.find((p: any) => p.name === 'admin').id;
  assert.equal((await call(url, tok, 'PUT', `/compute/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 100, cores: 200, ram: 512000 } })).status, 200);
  const image = (await call(url, tok, 'GET', '/image/v2/images?status=active')).body.images[0].id;

  // The storm: 30 creates at once; as soon as 5 have answered, delete those 5; then kill.
  const created: string[] = [];
  const deleted: string[] = [];
  const deletes: Promise<unknown>[] = [];
  const creates = Array.from({ length: 30 }, (_, k) => call(url, tok, 'POST', '/compute/v2.1/servers', { server: { name: `storm-${k}`, imageRef: image, flavorRef: '1' } })
    .then((r) => {
      if (r.status !== 202) return;
      created.push(r.body.server.id);
      if (deleted.length < 5) {
        deleted.push(r.body.server.id);
        deletes.push(call(url, tok, 'DELETE', `/compute/v2.1/servers/${r.body.server.id}`).catch(() => null));
      }
    }).catch(() => null));
  await Promise.all(creates);
  await Promise.allSettled(deletes);
  const building = (await call(url, tok, 'GET', '/compute/v2.1/servers/detail?status=BUILD')).body.servers.length;
  proc.kill('SIGKILL');
  await new Promise((r) => proc.once('exit', r));
  assert.equal(created.length, 30);
  assert.ok(building > 0, 'the kill landed while servers were still building');

  ({ proc, url } = await startMain());
  child = proc;
  tok = await token(url);
  // Wait for convergence: no server in BUILD and no delete in progress.
  const deadline = Date.now() + 120_000;
  let servers: any[] = [];
  for (;;) {
    servers = (await call(url, tok, 'GET', '/compute/v2.1/servers/detail?name=^storm-')).body.servers;
    if (!servers.some((s) => s.status === 'BUILD' || s['OS-EXT-STS:task_state'])) break;
    assert.ok(Date.now() < deadline, `still converging: ${servers.map((s) => `${s.status}/${s['OS-EXT-STS:task_state']}`).join(' ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const s of servers) assert.ok(s.status === 'ACTIVE' || s.status === 'ERROR', `${s.id} is ${s.status}`);
  const live = new Set(servers.map((s) => s.id));
  for (const id of deleted) assert.ok(!live.has(id), `deleted server ${id} is gone`);
  assert.equal(live.size, 30 - deleted.length);

  // Stop cleanly and compare the simulator's inventory with the live servers.
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  child = null;
  const inv = new DatabaseSync(inventoryFile(dataDir), { readOnly: true });
  const vms = new Set((inv.prepare('SELECT name FROM vms').all() as { name: string }[]).map((r) => r.name));
  inv.close();
  const active = new Set(servers.filter((s) => s.status === 'ACTIVE').map((s) => s.id));
  assert.deepEqual([...vms].sort(), [...active].sort(), 'the VMs are exactly the ACTIVE servers');
});
