// `npm run bench`: starts the cloud as a child process (src/main.ts, the embedded default:
// SQLite + simulator) in a temporary data directory, loads it from this machine over
// 127.0.0.1, and writes BENCHMARKS.md. Every phase is bounded in request count and time; a
// phase that fails is reported as such and the others still run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir, release, loadavg } from 'node:os';
import { join } from 'node:path';
import {
  ADMIN_PASSWORD, ROOT, agent, base, createServers, freePort, issueToken, json, percentile, rate, request, rssMb, sleep,
  startCloud, stopCloud, driverSection, type Child,
} from './lib.ts';

const OUT = process.env.BENCH_OUTPUT ?? join(ROOT, 'BENCHMARKS.md');
const SERVERS = 1000;
const PORTS = 10_000;
const VOLUMES = 100;
const BATCH = 100;

interface Result { name: string; value: string; target?: string; ok?: boolean; note?: string }
const results: Result[] = [];
const record = (r: Result) => {
  results.push(r);
  console.log(`${r.name}: ${r.value}${r.target ? ` (target ${r.target}${r.ok === undefined ? '' : r.ok ? ', met' : ', NOT met'})` : ''}${r.note ? ` — ${r.note}` : ''}`);
};

/** Runs one phase; a failure is recorded and the run goes on. */
async function phase(name: string, fn: () => Promise<void>) {
  try { await fn(); } catch (e) {
    record({ name: `Phase "${name}" stopped early`, value: 'error', note: (e instanceof Error ? e.message : String(e)).split('\n')[0] });
  }
}

// Neutron: ports created per second (concurrent single creates, with IPAM on one subnet), then
// the network filled to PORTS ports with bulk creates, and the latency of filtered lists over it.
async function benchPorts(auth: Record<string, string>, projectId: string) {
  await json('PUT', `/networking/v2.0/quotas/${projectId}`, { expect: 200, headers: auth, body: { quota: { port: -1 } } });
  const net = await json('POST', '/networking/v2.0/networks', { expect: 201, headers: auth, body: { network: { name: 'bench-net' } } });
  const netId = net.json.network.id;
  await json('POST', '/networking/v2.0/subnets', { expect: 201, headers: auth,
    body: { subnet: { network_id: netId, ip_version: 4, cidr: '10.64.0.0/18', name: 'bench-subnet' } } });
  let n = 0;
  const single = await rate(16, 2000, 15_000, async () => (await request('POST', '/networking/v2.0/ports', {
    headers: auth, body: { port: { network_id: netId, name: `bench-port-${n++}`, device_owner: 'compute:nova', device_id: `bench-device-${n % 100}` } },
  })).status === 201);
  record({ name: 'Ports created (POST /networking/v2.0/ports with IPAM on one subnet), 16 clients', value: `${single.perSec.toFixed(0)} /s`,
    note: `${single.ok} in ${single.seconds.toFixed(1)} s${single.failed ? `, ${single.failed} failed` : ''}` });
  let have = single.ok;
  const t0 = performance.now();
  while (have < PORTS) {
    const k = Math.min(500, PORTS - have);
    await json('POST', '/networking/v2.0/ports', { expect: 201, headers: auth,
      body: { ports: Array.from({ length: k }, (_, i) => ({ network_id: netId, name: `bench-bulk-${have + i}`, device_owner: 'compute:nova', device_id: `bench-device-${(have + i) % 100}` })) } });
    have += k;
  }
  const bulkS = (performance.now() - t0) / 1000;
  record({ name: `Ports created in bulk (500 per POST) up to ${PORTS}`, value: `${((PORTS - single.ok) / bulkS).toFixed(0)} /s` });
  const time = async (path: string, expectCount?: number) => {
    const lat: number[] = [];
    let count = 0;
    const t1 = Date.now();
    while (lat.length < 30 && Date.now() - t1 < 60_000) {
      const t = performance.now();
      const r = await json('GET', path, { expect: 200, headers: auth });
      lat.push(performance.now() - t);
      count = r.json.ports.length;
    }
    if (expectCount !== undefined && count !== expectCount) throw new Error(`${path} listed ${count} ports, expected ${expectCount}`);
    return { p50: percentile(lat, 50), p99: percentile(lat, 99), count, n: lat.length };
  };
  const all = await time(`/networking/v2.0/ports?network_id=${netId}`, PORTS);
  record({ name: `List of ${all.count} ports filtered by network_id, p50 / p99`, value: `${all.p50.toFixed(0)} / ${all.p99.toFixed(0)} ms`, note: `${all.n} sequential requests` });
  const some = await time(`/networking/v2.0/ports?network_id=${netId}&device_id=bench-device-7&device_owner=compute:nova`);
  record({ name: `List filtered by network_id + device_id + device_owner (${some.count} of ${PORTS} ports), p50 / p99`, value: `${some.p50.toFixed(1)} / ${some.p99.toFixed(1)} ms`, note: `${some.n} sequential requests` });
  const page = await time(`/networking/v2.0/ports?network_id=${netId}&limit=100&sort_key=name&sort_dir=asc`);
  record({ name: `First page (limit=100, sorted by name) of ${PORTS} ports, p50 / p99`, value: `${page.p50.toFixed(1)} / ${page.p99.toFixed(1)} ms`, note: `${page.n} sequential requests` });
}

// Cinder: VOLUMES empty volumes created concurrently until all are available, then each attached
// to one of the servers through Nova (os-volume_attachments) until all are in-use.
async function benchVolumes(auth: Record<string, string>, projectId: string) {
  await json('PUT', `/volume/v3/${projectId}/os-quota-sets/${projectId}`, { expect: 200, headers: auth,
    body: { quota_set: { volumes: -1, gigabytes: -1 } } });
  const waitAll = async (ids: string[], status: string) => {
    const pending = new Set(ids);
    const deadline = Date.now() + 300_000;
    while (pending.size) {
      if (Date.now() > deadline) throw new Error(`${pending.size} of ${ids.length} volumes not ${status} after 300 s`);
      await sleep(20);
      const r = await json('GET', `/volume/v3/${projectId}/volumes/detail?limit=1000`, { expect: 200, headers: auth });
      for (const v of r.json.volumes) {
        if (!pending.has(v.id)) continue;
        if (v.status.startsWith('error')) throw new Error(`volume ${v.id} went to ${v.status}`);
        if (v.status === status) pending.delete(v.id);
      }
    }
  };
  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: VOLUMES }, async (_, i) => String((await json('POST', `/volume/v3/${projectId}/volumes`, {
    expect: 202, headers: auth, body: { volume: { size: 1, name: `bench-vol-${i}` } },
  })).json.volume.id)));
  await waitAll(ids, 'available');
  const created = (performance.now() - t0) / 1000;
  record({ name: `Volumes reaching available, ${VOLUMES} concurrent creates`, value: `${(VOLUMES / created).toFixed(0)} /s`, note: `${created.toFixed(2)} s` });
  const servers = (await json('GET', `/compute/v2.1/servers?limit=${VOLUMES}`, { expect: 200, headers: auth })).json.servers.map((s: any) => String(s.id));
  if (servers.length < VOLUMES) throw new Error(`only ${servers.length} servers to attach to`);
  const t1 = performance.now();
  await Promise.all(ids.map((id, i) => json('POST', `/compute/v2.1/servers/${servers[i]}/os-volume_attachments`, {
    expect: 200, headers: auth, body: { volumeAttachment: { volumeId: id } },
  })));
  await waitAll(ids, 'in-use');
  const attached = (performance.now() - t1) / 1000;
  record({ name: `Volumes attached (Nova os-volume_attachments until in-use), ${VOLUMES} concurrent`, value: `${(VOLUMES / attached).toFixed(0)} /s`, note: `${attached.toFixed(2)} s` });
}

// Heat: a stack of 100 resources over Neutron (20 × net, subnet, port, security group, random
// string), and a ResourceGroup of 500 servers; each created and deleted, timed from the request
// to the stack's final status (polled every 50 ms).
async function benchHeat(auth: Record<string, string>, projectId: string, imageRef: string, flavorRef: string) {
  const heat = `/heat-api/v1/${projectId}`;
  await json('PUT', `/networking/v2.0/quotas/${projectId}`, { expect: 200, headers: auth,
    body: { quota: { port: -1, network: -1, subnet: -1, security_group: -1, security_group_rule: -1 } } });
  const run = async (name: string, template: Record<string, unknown>) => {
    const waitFor = async (path: string, want: string) => {
      const deadline = Date.now() + 900_000;
      for (;;) {
        const r = await request('GET', path, { headers: auth });
        if (r.status === 404 && want === 'DELETE_COMPLETE') return;
        const st = r.status === 200 ? JSON.parse(r.body.toString()).stack : null;
        if (st?.stack_status === want) return;
        if (st?.stack_status?.endsWith('_FAILED')) throw new Error(`${name}: ${st.stack_status}: ${st.stack_status_reason}`);
        if (Date.now() > deadline) throw new Error(`${name}: not ${want} after 900 s`);
        await sleep(50);
      }
    };
    const t0 = performance.now();
    const created = await json('POST', `${heat}/stacks`, { expect: 201, headers: auth, body: { stack_name: name, template, timeout_mins: 60 } });
    const path = `${heat}/stacks/${name}/${created.json.stack.id}`;
    await waitFor(path, 'CREATE_COMPLETE');
    const createS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    await json('DELETE', path, { expect: 204, headers: auth });
    await waitFor(path, 'DELETE_COMPLETE');
    return { createS, deleteS: (performance.now() - t1) / 1000 };
  };
  const resources: Record<string, unknown> = {};
  for (let i = 0; i < 20; i++) {
    resources[`net${i}`] = { type: 'OS::Neutron::Net', properties: { name: `bench-heat-net-${i}` } };
    resources[`subnet${i}`] = { type: 'OS::Neutron::Subnet', properties: { network: { get_resource: `net${i}` }, cidr: `10.${100 + i}.0.0/24` } };
    resources[`port${i}`] = { type: 'OS::Neutron::Port', properties: { network: { get_resource: `net${i}` }, fixed_ips: [{ subnet: { get_resource: `subnet${i}` } }],
      security_groups: [{ get_resource: `sg${i}` }] } };
    resources[`sg${i}`] = { type: 'OS::Neutron::SecurityGroup', properties: { rules: [{ protocol: 'tcp', port_range_min: 22, port_range_max: 22 }] } };
    resources[`secret${i}`] = { type: 'OS::Heat::RandomString', properties: { length: 32 } };
  }
  const small = await run('bench-heat-100', { heat_template_version: '2018-08-31', resources });
  record({ name: 'Heat stack of 100 resources (20 × Neutron net, subnet, port, security group + random string): create / delete', value: `${small.createS.toFixed(2)} / ${small.deleteS.toFixed(2)} s` });
  const group = await run('bench-heat-group', {
    heat_template_version: '2018-08-31',
    resources: {
      net: { type: 'OS::Neutron::Net' },
      subnet: { type: 'OS::Neutron::Subnet', properties: { network: { get_resource: 'net' }, cidr: '10.99.0.0/22' } },
      servers: { type: 'OS::Heat::ResourceGroup', depends_on: 'subnet', properties: { count: 500, resource_def: {
        type: 'OS::Nova::Server', properties: { name: 'bench-heat-%index%', image: imageRef, flavor: flavorRef, networks: [{ network: { get_resource: 'net' } }] } } } },
    },
  });
  record({ name: 'Heat ResourceGroup of 500 servers (OS::Nova::Server on one network): create / delete', value: `${group.createS.toFixed(1)} / ${group.deleteS.toFixed(1)} s`,
    note: `${(500 / group.createS).toFixed(0)} servers ACTIVE/s through Heat` });
}

// ---- the run
const loadBefore = loadavg()[0];

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'vistack-bench-'));
  base.port = await freePort();
  let cloud: Child | undefined;
  try {
    cloud = await startCloud(dataDir, base.port);
    const reported = /ready in (\d+) ms/.exec(cloud.output())?.[1];
    record({ name: 'Start to first answered request (first start, empty data directory)', value: `${Math.round(cloud.readyMs)} ms`,
      note: reported ? `the process reports ready after ${reported} ms of its own start-up` : undefined });
    await sleep(1000);
    await stopCloud(cloud);
    cloud = await startCloud(dataDir, base.port);
    record({ name: 'Start to first answered request (restart)', value: `${Math.round(cloud.readyMs)} ms`, target: '< 1 s', ok: cloud.readyMs < 1000 });
    // Idle = at rest: 10 s after ready with no requests (start-up work such as the background
    // password check has finished and its bcrypt worker has been retired).
    await sleep(10_000);
    const idle = rssMb(cloud.proc.pid!);
    record({ name: 'Resident memory, idle', value: `${idle.toFixed(0)} MB`, target: '< 150 MB', ok: idle < 150 });

    const issue = await rate(8, 2000, 10_000, async () => (await request('POST', '/identity/v3/auth/tokens', {
      body: { auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD } } },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } } } },
    })).status === 201);
    record({ name: 'Token issue (password, project scope), 8 clients', value: `${issue.perSec.toFixed(0)} /s`, note: `${issue.ok} in ${issue.seconds.toFixed(1)} s${issue.failed ? `, ${issue.failed} failed` : ''}` });

    const { token, projectId } = await issueToken();
    const { token: subject } = await issueToken();
    const auth = { 'x-auth-token': token };
    await json('GET', '/identity/v3/auth/tokens', { expect: 200, headers: { ...auth, 'x-subject-token': subject } });
    const validate = await rate(32, 100_000, 8_000, async () =>
      (await request('GET', '/identity/v3/auth/tokens', { headers: { ...auth, 'x-subject-token': subject } })).status === 200);
    record({ name: 'Token validation (GET /identity/v3/auth/tokens), 32 clients', value: `${validate.perSec.toFixed(0)} /s`, target: '> 5,000 /s', ok: validate.perSec > 5000,
      note: `${validate.ok} in ${validate.seconds.toFixed(1)} s${validate.failed ? `, ${validate.failed} failed` : ''}` });
    const authed = await rate(32, 100_000, 8_000, async () =>
      (await request('GET', '/compute/v2.1/flavors/1', { headers: auth })).status === 200);
    record({ name: 'Authenticated request (GET /compute/v2.1/flavors/1: token validation + policy + one row), 32 clients', value: `${authed.perSec.toFixed(0)} /s`, target: '> 5,000 /s', ok: authed.perSec > 5000,
      note: `${authed.ok} in ${authed.seconds.toFixed(1)} s${authed.failed ? `, ${authed.failed} failed` : ''}` });

    // Servers: a 1 MiB image, a small flavor, no quota limits for the admin project.
    const img = await json('POST', '/image/v2/images', { expect: 201, headers: auth,
      body: { name: 'bench-image', disk_format: 'raw', container_format: 'bare', visibility: 'public' } });
    await json('PUT', `/image/v2/images/${img.json.id}/file`, { expect: 204, headers: auth, raw: Buffer.alloc(1 << 20) });
    const flavor = await json('POST', '/compute/v2.1/flavors', { expect: 200, headers: auth,
      body: { flavor: { name: 'bench.tiny', ram: 64, vcpus: 1, disk: 1 } } });
    await json('PUT', `/compute/v2.1/os-quota-sets/${projectId}`, { expect: 200, headers: auth,
      body: { quota_set: { instances: -1, cores: -1, ram: -1 } } });

    const first = await createServers(auth, 'bench-b0', BATCH, img.json.id, flavor.json.flavor.id);
    record({ name: `Servers reaching ACTIVE, ${BATCH} concurrent creates`, value: `${(BATCH / first).toFixed(0)} /s`, target: '> 50 /s', ok: BATCH / first > 50,
      note: `${BATCH} ACTIVE ${first.toFixed(2)} s after the first POST` });
    let total = first;
    for (let b = 1; b < SERVERS / BATCH; b++) total += await createServers(auth, `bench-b${b}`, BATCH, img.json.id, flavor.json.flavor.id);
    record({ name: `Servers reaching ACTIVE, ${SERVERS} in batches of ${BATCH}`, value: `${(SERVERS / total).toFixed(0)} /s` });
    await sleep(3000);
    const loaded = rssMb(cloud.proc.pid!);
    record({ name: `Resident memory with ${SERVERS} servers`, value: `${loaded.toFixed(0)} MB` });

    const lat: number[] = [];
    const lt0 = Date.now();
    let listed = 0;
    while (lat.length < 100 && Date.now() - lt0 < 60_000) {
      const t = performance.now();
      const r = await json('GET', '/compute/v2.1/servers/detail?limit=1000', { expect: 200, headers: auth });
      lat.push(performance.now() - t);
      listed = r.json.servers.length;
    }
    const p50 = percentile(lat, 50), p99 = percentile(lat, 99);
    record({ name: `Detailed list of ${listed} servers (GET /compute/v2.1/servers/detail?limit=1000), p50 / p99`, value: `${p50.toFixed(1)} / ${p99.toFixed(1)} ms`,
      target: '< 100 ms', ok: listed === SERVERS && p99 < 100, note: `${lat.length} sequential requests` });

    await phase('ports', () => benchPorts(auth, projectId));
    await phase('volumes', () => benchVolumes(auth, projectId));
    await phase('heat', () => benchHeat(auth, projectId, img.json.id, flavor.json.flavor.id));

    const code = await stopCloud(cloud);
    record({ name: 'Stop on SIGTERM', value: `exit code ${code}`, ok: code === 0 });
    cloud = undefined;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    record({ name: 'Run stopped early', value: 'error', note: msg.split('\n')[0] });
    console.error(e);
    process.exitCode = 1;
  } finally {
    if (cloud) await stopCloud(cloud);
    agent.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
  writeReport();
}

function writeReport() {
  const cpu = cpus();
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    '',
    `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}; Node ${process.version}.`,
    'The cloud runs as one child process (`src/main.ts`: SQLite in a temporary data directory, the embedded vSphere',
    'simulator with its default inventory and zero task latency); the load comes from the same machine over',
    '127.0.0.1 through keep-alive connections, so client and cloud share the CPU.',
    `Load average (1 min) when the run began: ${loadBefore.toFixed(2)} (other work on the machine lowers every rate).`,
    '',
    '| measure | result | target |',
    '| --- | --- | --- |',
    ...results.map((r) => `| ${r.name}${r.note ? ` (${r.note})` : ''} | ${r.value} | ${r.target ? `${r.target}${r.ok === undefined ? '' : r.ok ? ' ✓' : ' ✗'}` : ''} |`),
    '',
    'Method: ready = time from spawning the process to the first 200 from `GET /identity/v3`; memory = VmRSS of',
    'the cloud process (/proc/<pid>/status) 10 s after ready for the idle figure, 3 s after the phase otherwise; rates = successful requests per second over the',
    'phase (bounded in count and time); servers ACTIVE/s = servers / time from the first create request until the',
    'last one shows ACTIVE in `GET /servers/detail`, polled every 20 ms; list latency over sequential requests.',
    '',
  ];
  const kept = driverSection(OUT);
  if (kept) lines.push(kept, '');
  writeFileSync(OUT, lines.join('\n'));
  console.log(`wrote ${OUT}`);
}

await main();
