// `npm run bench:driver`: the same boot storm on both backends — the embedded simulator and the
// vsphere driver against VMware's vcsim (over TLS, built into .vcsim-bin) — measuring servers
// reaching ACTIVE per second, the API's latency while the servers boot, and deletes per second.
// Writes its table into BENCHMARKS.md between markers (bench/run.ts keeps that part).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  DRIVER_SECTION, ROOT, agent, base, createServers, freePort, issueToken, json, percentile, request, sleep, startCloud, stopCloud,
} from './lib.ts';
import { startVcsim, type Vcsim } from '../src/drivers/vsphere/testing.ts';

const OUT = process.env.BENCH_OUTPUT ?? join(ROOT, 'BENCHMARKS.md');
// vcsim's hosts have 2 CPU threads; Nova's 4× CPU overcommit on a cluster of 10 hosts admits 80 one-vCPU servers.
const VCSIM_HOSTS = 10;
const BATCH = Number(process.env.BENCH_DRIVER_SERVERS ?? 50);

interface Figures { activePerSec: number; activeS: number; p50: number; p99: number; samples: number; deletesPerSec: number; vms?: number }

/** GETs one server and the first page of the detailed list in turn until `stop()`; returns the latencies. */
function sampleLatency(auth: Record<string, string>, id: () => string | undefined) {
  const lat: number[] = [];
  let running = true;
  let failures = 0;
  const done = (async () => {
    while (running) {
      const sid = id();
      const path = sid && lat.length % 2 ? `/compute/v2.1/servers/${sid}` : '/compute/v2.1/servers/detail?limit=100';
      const t = performance.now();
      const r = await request('GET', path, { headers: auth }).catch(() => null);
      if (r?.status === 200) lat.push(performance.now() - t);
      else failures++;
    }
  })();
  return async () => {
    running = false;
    await done;
    if (failures) console.error(`latency sampler: ${failures} requests failed`);
    return lat;
  };
}

async function run(driver: 'simulator' | 'vsphere'): Promise<Figures> {
  let sim: Vcsim | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), `vistack-bench-${driver}-`));
  base.port = await freePort();
  const env: Record<string, string> = { VISTACK_DRIVER: driver, VISTACK_RECONCILE_INTERVAL_MS: '3600000' };
  if (driver === 'vsphere') {
    sim = await startVcsim({ args: ['-host', String(VCSIM_HOSTS)] });
    Object.assign(env, sim.env);
  }
  const cloud = await startCloud(dataDir, base.port, env);
  try {
    // The first start answers before its seed data is in: wait for the ready line.
    for (let i = 0; !/auth URL:/.test(cloud.output()); i++) {
      if (i > 600) throw new Error(`no ready line after 60 s:\n${cloud.output()}`);
      await sleep(100);
    }
    const { token, projectId } = await issueToken();
    const auth = { 'x-auth-token': token };
    const img = await json('POST', '/image/v2/images', { expect: 201, headers: auth,
      body: { name: 'bench-image', disk_format: 'raw', container_format: 'bare', visibility: 'public' } });
    await json('PUT', `/image/v2/images/${img.json.id}/file`, { expect: 204, headers: auth, raw: Buffer.alloc(1 << 20) });
    const flavor = await json('POST', '/compute/v2.1/flavors', { expect: 200, headers: auth, body: { flavor: { name: 'bench.tiny', ram: 64, vcpus: 1, disk: 1 } } });
    await json('PUT', `/compute/v2.1/os-quota-sets/${projectId}`, { expect: 200, headers: auth, body: { quota_set: { instances: -1, cores: -1, ram: -1 } } });
    // One server first: the image is copied into the datastore cache once, as in a warm cloud.
    await createServers(auth, 'bench-warm', 1, img.json.id, flavor.json.flavor.id);

    const list = await json('GET', '/compute/v2.1/servers', { expect: 200, headers: auth });
    const someId: string | undefined = list.json.servers[0]?.id;
    const stop = sampleLatency(auth, () => someId);
    const activeS = await createServers(auth, 'bench', BATCH, img.json.id, flavor.json.flavor.id);
    const lat = await stop();

    let vms: number | undefined;
    if (sim) {
      const out = await sim.govc('find', '/DC0/vm/vistack', '-type', 'm');
      vms = out.split('\n').filter((l) => l.trim() && !l.trim().endsWith('/vistack')).length;
    }

    const all = await json('GET', '/compute/v2.1/servers?limit=1000', { expect: 200, headers: auth });
    const ids: string[] = all.json.servers.map((s: { id: string }) => s.id);
    const t0 = performance.now();
    await Promise.all(ids.map((id) => json('DELETE', `/compute/v2.1/servers/${id}`, { expect: 204, headers: auth })));
    for (;;) {
      const r = await json('GET', '/compute/v2.1/servers', { expect: 200, headers: auth });
      if (!r.json.servers.length) break;
      if (performance.now() - t0 > 300_000) throw new Error(`${r.json.servers.length} servers not deleted after 300 s`);
      await sleep(20);
    }
    const deleteS = (performance.now() - t0) / 1000;
    return {
      activePerSec: BATCH / activeS, activeS, p50: percentile(lat, 50)!, p99: percentile(lat, 99)!, samples: lat.length,
      deletesPerSec: ids.length / deleteS, ...(vms === undefined ? {} : { vms }),
    };
  } catch (e) {
    console.error(cloud.output().split('\n').slice(-30).join('\n'));
    throw e;
  } finally {
    await stopCloud(cloud);
    await sim?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const loadBefore = loadavg()[0]!;
const results: Record<string, Figures> = {};
for (const d of (process.env.BENCH_DRIVERS ?? 'simulator,vsphere').split(',') as Array<'simulator' | 'vsphere'>) {
  results[d] = await run(d);
  console.log(d, results[d]);
}
agent.destroy();

const s = results.simulator!, v = results.vsphere!;
const cpu = cpus();
const section = [
  DRIVER_SECTION.begin,
  '## The vsphere driver against vcsim, beside the embedded simulator',
  '',
  `Written by \`npm run bench:driver\` (bench/driver.ts) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}, Node ${process.version}; load average (1 min) at the start ${loadBefore.toFixed(2)}.`,
  `Each backend: a fresh cloud (\`src/main.ts\`, SQLite), a 1 MiB raw image already in the datastore cache (one server booted first), then ${BATCH} concurrent creates (flavor 1 vCPU / 64 MiB / 1 GiB, no network).`,
  `vcsim (govmomi 0.24.2, built from Debian's packages; one cluster of ${VCSIM_HOSTS} hosts) runs on the same machine over TLS with a CA file; it finishes its tasks at once, so the`,
  'vsphere figures measure the driver\'s own SOAP round trips (property reads, CreateVM_Task, CopyVirtualDisk_Task, ReconfigVM_Task, PowerOnVM_Task,',
  'task completion through WaitForUpdatesEx), not a real vCenter\'s task times.',
  '',
  '| measure | simulator | vsphere driver on vcsim |',
  '| --- | --- | --- |',
  `| Servers reaching ACTIVE, ${BATCH} concurrent creates | ${s.activePerSec.toFixed(0)} /s (${s.activeS.toFixed(2)} s) | ${v.activePerSec.toFixed(0)} /s (${v.activeS.toFixed(2)} s) |`,
  `| API latency while they boot (GET /servers/detail?limit=100 and GET /servers/{id} in turn, one client), p50 / p99 | ${s.p50.toFixed(1)} / ${s.p99.toFixed(1)} ms (${s.samples} requests) | ${v.p50.toFixed(1)} / ${v.p99.toFixed(1)} ms (${v.samples} requests) |`,
  `| Servers deleted (all at once, until the list is empty) | ${s.deletesPerSec.toFixed(0)} /s | ${v.deletesPerSec.toFixed(0)} /s |`,
  `| VMs in Vistack's folder on vcsim after the creates (govc find) | — | ${v.vms ?? '?'} (expected ${BATCH + 1}) |`,
  '',
  DRIVER_SECTION.end,
].join('\n');

let text = '';
try { text = readFileSync(OUT, 'utf8'); } catch { /* a new file */ }
const a = text.indexOf(DRIVER_SECTION.begin), b = text.indexOf(DRIVER_SECTION.end);
text = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + DRIVER_SECTION.end.length) : `${text.replace(/\s*$/, '\n\n')}${section}\n`;
writeFileSync(OUT, text);
console.log(`wrote ${OUT}`);
