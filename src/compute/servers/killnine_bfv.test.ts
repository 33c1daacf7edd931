// Crash recovery in the middle of boot-from-volume on a network: the real process is SIGKILLed
// while servers are creating their boot volumes, binding ports and attaching, then started again.
// Every server must converge (ACTIVE or ERROR), and after they are all deleted no port, no volume,
// no attachment and no volume VMDK may be left that the APIs do not know of.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { inventoryFile } from '../../drivers/simulator/inventory.ts';

const root = new URL('../../../', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'vistack-kill9-bfv-'));
let child: ChildProcess | null = null;
after(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

const pgUrl = process.env.VISTACK_TEST_DATABASE_URL;
async function resetPostgres() {
  if (!pgUrl) return;
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  try { await c.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public;'); } finally { await c.end(); }
}

function startMain(): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['src/main.ts'], {
      cwd: root,
      env: {
        ...process.env, VISTACK_DATA_DIR: dataDir, VISTACK_PORT: '0', VISTACK_PUBLIC_URL: '',
        ...(pgUrl ? { VISTACK_DATABASE_URL: pgUrl } : {}),
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

async function auth(url: string): Promise<{ token: string; catalog: any[]; project: string }> {
  const r = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: 'secret' } } }, scope: { project: { name: 'admin', domain: { name: 'Default' } } } } }),
  });
  assert.equal(r.status, 201);
  const body = await r.json() as any;
  return { token: r.headers.get('x-subject-token')!, catalog: body.token.catalog ?? [], project: body.token.project.id };
}

async function call(url: string, tok: string, method: string, path: string, body?: unknown) {
  const r = await fetch(`${url}${path}`, {
    method, headers: { 'x-auth-token': tok, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function until(what: string, fn: () => Promise<boolean>, ms = 120_000) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    assert.ok(Date.now() < deadline, `timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

it('recovers from kill -9 in the middle of boot-from-volume servers on a network', { timeout: 300_000 }, async (t) => {
  await resetPostgres();
  let { proc, url } = await startMain();
  child = proc;
  let a = await auth(url);
  const types = new Set(a.catalog.map((e: any) => e.type));
  if (!types.has('network') || !types.has('volumev3')) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    child = null;
    t.skip('this cloud has no network or volume service');
    return;
  }
  const p = a.project;
  const image = (await call(url, a.token, 'GET', '/image/v2/images?status=active')).body.images[0].id;
  const net = await call(url, a.token, 'POST', '/networking/v2.0/networks', { network: { name: 'k9' } });
  assert.equal(net.status, 201);
  assert.equal((await call(url, a.token, 'POST', '/networking/v2.0/subnets', { subnet: { network_id: net.body.network.id, cidr: '10.99.0.0/24', ip_version: 4 } })).status, 201);

  const ids: string[] = [];
  await Promise.all(Array.from({ length: 6 }, (_, k) => call(url, a.token, 'POST', '/compute/v2.1/servers', {
    server: {
      name: `k9-${k}`, imageRef: '', flavorRef: '1', networks: [{ uuid: net.body.network.id }],
      block_device_mapping_v2: [{ source_type: 'image', destination_type: 'volume', uuid: image, boot_index: 0, volume_size: 1, delete_on_termination: true }],
    },
  }).then((r) => { assert.equal(r.status, 202, JSON.stringify(r.body)); ids.push(r.body.server.id); })));
  // Kill once some boot volumes exist but servers are still building.
  await until('a boot volume to appear', async () => (await call(url, a.token, 'GET', `/volume/v3/${p}/volumes`)).body.volumes.length > 0, 60_000);
  const building = (await call(url, a.token, 'GET', '/compute/v2.1/servers/detail?status=BUILD')).body.servers.length;
  proc.kill('SIGKILL');
  await new Promise((r) => proc.once('exit', r));
  assert.ok(building > 0, 'the kill landed while servers were still building');

  ({ proc, url } = await startMain());
  child = proc;
  a = await auth(url);
  let servers: any[] = [];
  await until('servers to converge', async () => {
    servers = (await call(url, a.token, 'GET', '/compute/v2.1/servers/detail?name=^k9-')).body.servers;
    return !servers.some((s) => s.status === 'BUILD' || s['OS-EXT-STS:task_state']);
  });
  assert.equal(servers.length, 6);
  for (const s of servers) assert.ok(s.status === 'ACTIVE' || s.status === 'ERROR', `${s.id} is ${s.status}`);
  // Everything that exists belongs to a server the API shows.
  const live = new Set(servers.map((s) => s.id));
  const ports = (await call(url, a.token, 'GET', `/networking/v2.0/ports?network_id=${net.body.network.id}&device_owner=compute:nova`)).body.ports;
  for (const port of ports) assert.ok(live.has(port.device_id), `port ${port.id} belongs to a live server`);
  const volumes = (await call(url, a.token, 'GET', `/volume/v3/${p}/volumes/detail`)).body.volumes;
  const known = new Set(servers.flatMap((s) => s['os-extended-volumes:volumes_attached'].map((v: any) => v.id)));
  for (const v of volumes) assert.ok(known.has(v.id), `volume ${v.id} (${v.status}) is a server's`);
  for (const s of servers.filter((x) => x.status === 'ACTIVE')) {
    assert.equal(s['os-extended-volumes:volumes_attached'].length, 1);
    assert.equal(Object.keys(s.addresses).length, 1);
  }

  // Delete them all: nothing may remain.
  for (const s of servers) await call(url, a.token, 'DELETE', `/compute/v2.1/servers/${s.id}`);
  await until('servers to be deleted', async () => (await call(url, a.token, 'GET', '/compute/v2.1/servers?name=^k9-')).body.servers.length === 0);
  await until('volumes to be deleted', async () => (await call(url, a.token, 'GET', `/volume/v3/${p}/volumes`)).body.volumes.length === 0);
  assert.deepEqual((await call(url, a.token, 'GET', `/networking/v2.0/ports?network_id=${net.body.network.id}&device_owner=compute:nova`)).body.ports, []);

  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  child = null;
  const inv = new DatabaseSync(inventoryFile(dataDir), { readOnly: true });
  const vms = (inv.prepare('SELECT name FROM vms').all() as { name: string }[]).map((r) => r.name);
  const vmdks = (inv.prepare(`SELECT path FROM files WHERE kind = 'volume'`).all() as { path: string }[]).map((r) => r.path);
  inv.close();
  assert.deepEqual(vms, []);
  assert.deepEqual(vmdks, [], 'no volume VMDK left on the datastores');
});
