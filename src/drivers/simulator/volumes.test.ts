// The simulator's Cinder driver after a relocation that Cinder never heard of: a crash between
// ensureAccessible (the VMDK moved to the attaching host's cluster) and Cinder recording the new
// path leaves Cinder with the old location. Every call must still find the disk, so that a later
// delete leaves no VMDK behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatorDriver } from './index.ts';
import { SimVolumeDriver } from './volumes.ts';

const dir = mkdtempSync(join(tmpdir(), 'vistack-simvol-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a stale location (relocated before a crash) still reaches the VMDK, and delete removes it', async () => {
  const compute = new SimulatorDriver({ dataDir: dir, latencyMs: 0 });
  await compute.init();
  const volumes = new SimVolumeDriver(() => compute.vcenter);
  const vc = compute.vcenter;
  const id = '0b5c6e1a-9d1f-4a3e-8f00-000000000001';
  const stale = await volumes.createVolume({
    volumeId: id, name: `volume-${id}`, projectId: 'p', sizeGb: 1, vmdkType: 'thin', adapterType: 'lsiLogic', storageProfile: null, availabilityZone: 'nova',
  });
  // The compute host of a cluster that does not mount the volume's datastore.
  const ds = vc.datastoreByName(stale.datastore)!;
  const other = vc.objs.clusters.find((c) => !ds.clusters.includes(c.moref))!;
  const moved = await volumes.ensureAccessible(stale, other.computeHost);
  assert.notEqual(moved.path, stale.path, 'the VMDK was relocated');
  assert.equal(vc.file(stale.path), undefined);

  // Cinder still holds `stale`: each call finds the file where it went.
  assert.deepEqual(await volumes.ensureAccessible(stale, other.computeHost), moved, 'no second move; the real location');
  await volumes.extendVolume(stale, 2);
  assert.equal(vc.file(moved.path)!.capacityKb, 2 * 1024 * 1024);
  const snap = await volumes.createSnapshot(stale, '0b5c6e1a-9d1f-4a3e-8f00-0000000000aa');
  assert.equal(snap.datastore, moved.datastore);
  await volumes.deleteSnapshot(snap);
  await volumes.deleteVolume(stale);
  assert.deepEqual(vc.allFiles().filter((f) => f.path.includes(id)).map((f) => f.path), [], 'no VMDK of the volume is left');
  await compute.close();
});
