// The telemetry hook against vcsim: counter ids come from the PerformanceManager's catalogue
// (compared with govc's metric.info), and one QueryPerf answers for many VMs, model VMs and VMs
// created through the API alike. vcsim's samples are canned series with random noise, so the
// figures are checked for presence, units and plausible ranges, not for exact values.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VSphereSession } from './session.ts';
import { startVcsim, vcsimTestOptions, type Vcsim } from './testing.ts';
import { VSpherePerf, type VmStats } from './perf.ts';
import type { VCenterConfig } from './config.ts';

// ---- vcsim over TLS, trusted through the test CA (./testing.ts) ------------------------------
const vcsimOptions = vcsimTestOptions();
type Sim = Vcsim;
const startSim = (flags: string[] = []): Promise<Sim> => startVcsim({ args: flags });

const FIGURES = ['cpuUsagePct', 'cpuMhz', 'memoryConsumedMb', 'memoryActiveMb', 'diskReadKBps', 'diskWriteKBps', 'netRxKBps', 'netTxKBps'] as const;
const MODEL_VMS = ['DC0_H0_VM0', 'DC0_H0_VM1', 'DC0_C0_RP0_VM0', 'DC0_C0_RP0_VM1'];

describe('VSpherePerf on vcsim', vcsimOptions, () => {
  let sim: Sim;
  let s: VSphereSession;
  let perf: VSpherePerf;
  const uuidOf = new Map<string, string>();
  const morefOf = new Map<string, string>();
  let queryPerfCalls = 0;

  before(async () => {
    sim = await startSim();
    s = new VSphereSession({
      name: 't', url: sim.url, username: sim.username, password: sim.password, caFile: sim.caFile, insecure: false,
      folder: 'vistack', imageCacheFolder: 'vistack_image_cache', connections: 8, taskTimeoutMs: 60_000,
    } as VCenterConfig);
    perf = new VSpherePerf(s);
    // VMs made through the API (CreateVM_Task via govc), one powered on, one off.
    await sim.govc('vm.create', '-on=true', '-c', '2', '-m', '256', '-net', 'DC0_DVPG0', '-pool', '/DC0/host/DC0_C0/Resources', 'api-on');
    await sim.govc('vm.create', '-on=false', '-c', '1', '-m', '128', '-net', 'DC0_DVPG0', '-pool', '/DC0/host/DC0_C0/Resources', 'api-off');
    for (const name of [...MODEL_VMS, 'api-on', 'api-off']) {
      uuidOf.set(name, await sim.collect(`/DC0/vm/${name}`, 'config.instanceUuid'));
      morefOf.set(name, (await sim.govc('find', '-i', '/DC0/vm', '-name', name)).trim().split(':')[1]!);
    }
    const call = s.client.call.bind(s.client);
    s.client.call = ((method: string, ...rest: unknown[]) => {
      if (method === 'QueryPerf') queryPerfCalls++;
      return (call as (...a: unknown[]) => Promise<unknown>)(method, ...rest);
    }) as typeof s.client.call;
  });
  after(async () => { await s?.close(); await sim?.stop(); });

  it('maps counter names to the ids govc reports', async () => {
    const ids = await perf.counters();
    assert.ok(ids.size > 100, `a full catalogue (${ids.size} counters)`);
    const info = JSON.parse(await sim.govc('metric.info', '-json', 'vm/DC0_H0_VM0',
      'cpu.usage.average', 'cpu.usagemhz.average', 'mem.consumed.average', 'mem.active.average',
      'disk.read.average', 'disk.write.average', 'net.received.average', 'net.transmitted.average')) as Record<string, { Counter: { Key: number } }>;
    for (const [name, v] of Object.entries(info)) assert.equal(await perf.counterId(name), v.Counter.Key, name);
    assert.equal(await perf.counterId('no.such.counter'), undefined);
  });

  it('gives every figure for the model VMs and the API-made VMs with one QueryPerf', async () => {
    const names = [...MODEL_VMS, 'api-on', 'api-off'];
    const before = queryPerfCalls;
    const started = Date.now();
    const stats = await perf.vmStats(names.map((n) => uuidOf.get(n)!));
    assert.equal(queryPerfCalls - before, 1, 'one QueryPerf for all six VMs');
    assert.deepEqual(stats.map((x) => x.uuid), names.map((n) => uuidOf.get(n)), 'in input order');
    for (const [i, st] of stats.entries()) {
      // vcsim answers the same canned VirtualMachine series for every VM, powered on or not.
      for (const f of FIGURES) assert.equal(typeof st[f], 'number', `${names[i]} has ${f}`);
      assert.ok(st.cpuUsagePct! >= 0 && st.cpuUsagePct! <= 100, `cpu % of ${names[i]}: ${st.cpuUsagePct}`);
      assert.ok(st.memoryConsumedMb! > 0 && st.memoryConsumedMb! < 1024 * 1024, `consumed MiB of ${names[i]}: ${st.memoryConsumedMb}`);
      assert.ok(Math.abs(Date.parse(st.timestamp) - started) < 120_000, `a current sample time: ${st.timestamp}`);
    }
  });

  it('takes VM morefs as well and reports their instance uuids', async () => {
    const stats = await perf.vmStats(['api-on', 'DC0_C0_RP0_VM0'].map((n) => ({ type: 'VirtualMachine', value: morefOf.get(n)! })));
    assert.deepEqual(stats.map((x) => x.uuid), [uuidOf.get('api-on'), uuidOf.get('DC0_C0_RP0_VM0')]);
  });

  it('leaves out VMs that do not exist, and answers [] for none', async () => {
    const stats: VmStats[] = await perf.vmStats(['00000000-0000-0000-0000-000000000000', uuidOf.get('api-off')!, { type: 'VirtualMachine', value: 'vm-999999' }]);
    assert.deepEqual(stats.map((x) => x.uuid), [uuidOf.get('api-off')]);
    assert.deepEqual(await perf.vmStats([]), []);
  });

  it('rejects input that is not a list of uuids or morefs', async () => {
    await assert.rejects(perf.vmStats('x' as unknown as string[]), (e: any) => e.fault === 'InvalidArgument');
    await assert.rejects(perf.vmStats([42 as unknown as string]), (e: any) => e.fault === 'InvalidArgument');
  });
});
