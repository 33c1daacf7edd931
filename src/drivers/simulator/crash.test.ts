// A simulated vCenter outlives the process that drives it: kill -9 in the middle of a boot
// storm (and of an image copy) leaves a consistent inventory that the next start can finish.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { SimulatorDriver } from './index.ts';
import { inventoryDir } from './inventory.ts';
import { PowerState } from '../../core/virt.ts';

const dir = mkdtempSync(join(tmpdir(), 'vistack-simcrash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// The child: a boot storm of 20 concurrent spawns that never stops, plus one spawn whose image
// copy never finishes; it reports progress on stdout.
const child = `
import { Readable } from 'node:stream';
import { SimulatorDriver } from ${JSON.stringify(new URL('./index.ts', import.meta.url).pathname)};
const d = new SimulatorDriver({ dataDir: ${JSON.stringify(dir)} });
await d.init();
const [node] = await d.listNodes();
const flavor = { id: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 512, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} };
const img = (id, endless) => ({ id, name: id, diskFormat: 'vmdk', containerFormat: 'bare', size: 1 << 20, properties: {},
  async open() { return Readable.from((async function* () { yield Buffer.alloc(1 << 20, 7); if (endless) await new Promise(() => {}); })()); } });
let n = 0;
const mk = () => ({ uuid: 'cccccccc-0000-4000-8000-' + String(n++).padStart(12, '0'), name: 'storm', hostname: 'storm', projectId: 'p', userId: 'u', nodename: node.nodename, flavor, metadata: {} });
d.spawn(mk(), img('endless', true)).catch(() => {});
let done = 0;
async function worker() { for (;;) { await d.spawn(mk(), img('storm', false)); if (++done % 50 === 0) console.log('spawned ' + done); } }
for (let i = 0; i < 20; i++) worker();
`;

test('kill -9 during a boot storm leaves every VM complete and the image cache clean', async () => {
  const script = join(dir, 'storm.ts');
  writeFileSync(script, child);
  const proc = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! });
  for await (const l of lines) if (l === 'spawned 200') break;
  const cacheDir = join(inventoryDir(dir), 'datastores');
  const partials = () => readdirSync(cacheDir, { recursive: true }).map(String).filter((f) => f.includes('.part-'));
  assert.ok(partials().length >= 1, 'an image copy is in flight');
  proc.kill('SIGKILL');
  await once(proc, 'exit');

  const d = new SimulatorDriver({ dataDir: dir });
  await d.init();
  try {
    const vc = d.vcenter;
    assert.deepEqual(partials(), [], 'partial copies are removed at start');
    const uuids = await d.listInstances();
    assert.ok(uuids.length >= 200);
    let stopped = 0;
    for (const u of uuids) {
      const vm = vc.vm(u)!;
      const root = vm.disks.find((x) => x.kind === 'root')!;
      assert.ok(root, `${u} has its root disk`);
      const cached = vc.file(root.parent!)!;
      assert.ok(cached, `${u}'s parent disk is in the cache`);
      const file = vc.dsFile(vc.datastore(cached.datastore)!, root.parent!.split('] ')[1]);
      assert.ok(existsSync(file) && statSync(file).size === cached.committed);
      if (vm.powerState === 'poweredOff') stopped++;
    }
    assert.ok(!vc.allFiles().some((f) => String(f.props.imageId) === 'endless'), 'no record of the unfinished copy');
    // Created-but-not-started VMs (killed between the tasks) finish when Nova spawns again.
    for (const u of uuids) {
      const vm = vc.vm(u)!;
      if (vm.spawned) continue;
      await d.spawn({ uuid: u, name: 'storm', hostname: 'storm', projectId: 'p', userId: 'u', nodename: (await d.listNodes())[0].nodename,
        flavor: { id: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 512, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} }, metadata: {} }, null);
      assert.equal((await d.getInfo(u))!.powerState, PowerState.RUNNING);
    }
    assert.ok(stopped <= 20, 'at most one half-done spawn per worker');
    // The accounting rebuilt from the file matches the VMs found.
    const hosts = vc.objs.hosts.reduce((a, h) => a + vc.load(h.moref).vms, 0);
    assert.equal(hosts, vc.allVms().length);
  } finally {
    await d.close();
  }
});
