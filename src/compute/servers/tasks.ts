// The compute manager: durable task handlers that converge each instance through ctx.driver.
// The API writes the desired state (vm_state/task_state) and the task in one transaction; a
// handler reads the instance, does nothing if the task_state it expects is gone (a delete came
// in, the server was reset ...), calls the driver (every call is idempotent), then writes the
// final state with a compare-and-set on task_state (Nova's expected_task_state). A handler may
// therefore run again after a crash at any point: the scheduled node is written before spawn and
// reused, spawn of an existing VM succeeds, destroy of a missing VM succeeds.
import type { Context } from '../../core/service.ts';
import { PermanentError, type TaskRecord } from '../../core/tasks.ts';
import { InstanceNotFound, PowerState, VirtDriverError, type DiskSpec, type ImageSpec, type InstanceSpec } from '../../core/virt.ts';
import { nowIso } from '../../core/ids.ts';
import { removeInstanceFromGroups } from '../server_groups.ts';
import { latestMigration, setMigrationStatus } from '../migrations.ts';
import { addFault, getInstance, metadataOf, updateInstance, VM, type Instance, type InstanceFlavor } from './db.ts';
import { conductorHost, withEvent } from './instance_actions.ts';
import { NoValidHost, selectDestination } from './scheduler.ts';
import { allocateNetworks, deallocateNetworks, NetworkAllocationFailed, vifSpec, vifsOf } from './network.ts';
import { bdmsOf, completeAttach, connectVolume, isVolumeBacked, releaseAllVolumes, VolumeFailed } from './bdm.ts';

export const BUILD = 'compute.build';
export const DELETE = 'compute.delete';
export const ACTION = 'compute.action';

/** How many nodes a failed spawn is tried on before the server goes ERROR (Nova's [scheduler]max_attempts). */
const MAX_ATTEMPTS = 3;

export interface ActionPayload {
  uuid: string;
  op: string;
  actionId?: string;
  /** task_state the API set with this task; the handler does nothing if it changed. */
  expect: string;
  [k: string]: unknown;
}

class ImageGone extends Error {}

/** An ImageSpec whose bytes stream from the image service. */
export async function imageSpec(ctx: Context, imageId: string): Promise<ImageSpec> {
  const api = ctx.services.image;
  if (!api) throw new ImageGone(`Image ${imageId} could not be found.`);
  const rec = await api.get(imageId, null);
  if (!rec || rec.status !== 'active') throw new ImageGone(rec ? `Image ${imageId} is not active.` : `Image ${imageId} could not be found.`);
  return {
    id: rec.id, name: rec.name ?? '', diskFormat: rec.diskFormat ?? 'vmdk', containerFormat: rec.containerFormat ?? 'bare',
    size: rec.size ?? 0, checksum: rec.checksum ?? undefined, properties: { ...rec.properties },
    open: () => api.open(rec.id),
  };
}

async function instanceSpec(ctx: Context, inst: Instance): Promise<InstanceSpec> {
  const md = (await metadataOf(ctx.db, [inst.uuid])).get(inst.uuid) ?? {};
  return {
    uuid: inst.uuid, name: inst.displayName, hostname: inst.hostname, projectId: inst.projectId, userId: inst.userId,
    nodename: inst.node ?? '', flavor: inst.flavor, userData: inst.userData ?? undefined, keyData: inst.keyData ?? undefined,
    metadata: md,
  };
}

/** A failed build gives its ports back (Nova's _cleanup_allocated_networks); the delete repeats it anyway. */
async function releaseNetworks(ctx: Context, uuid: string) {
  try { await deallocateNetworks(ctx, uuid); } catch (e) { ctx.log.warn(`could not deallocate the ports of ${uuid}`, e); }
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const errDetails = (e: unknown) => (e instanceof Error ? (e.stack ?? e.message) : String(e));
/**
 * A backend that could not be reached (fault HostCommunication: a vCenter restarting, a network
 * blip) is worth the task engine's retries with backoff, as oslo.vmware repeats such calls; the
 * driver's operations are idempotent, so the retry picks up where the call was cut off.
 */
const unreachable = (e: unknown) => e instanceof VirtDriverError && e.fault === 'HostCommunication';
/** Other backend faults and a vanished VM are not worth retrying: they fail the operation at once. */
const isPermanent = (e: unknown) => (e instanceof VirtDriverError && !unreachable(e)) || e instanceof InstanceNotFound || e instanceof ImageGone || e instanceof PermanentError;

/** Puts the instance in ERROR with a fault (Nova's _set_instance_obj_error_state + add_instance_fault_from_exc). */
async function setError(ctx: Context, uuid: string, code: number, message: string, details: string | null, expect?: (string | null)[]) {
  await ctx.db.tx(async (t) => {
    const inst = await getInstance(t, uuid);
    if (!inst || inst.deleted) return;
    if (expect && !expect.includes(inst.taskState)) return;
    await updateInstance(t, uuid, { vm_state: VM.ERROR, task_state: null });
    await addFault(t, uuid, code, message, details, inst.host);
  });
}

/** An action failed: back to no task (keeping vm_state, as Nova's reverts_task_state) or ERROR, with a fault. */
async function failAction(ctx: Context, p: ActionPayload, err: unknown, toError: boolean) {
  await ctx.db.tx(async (t) => {
    const inst = await getInstance(t, p.uuid);
    if (!inst || inst.deleted || inst.taskState !== p.expect) return;
    const fields: Record<string, unknown> = { task_state: null };
    if (toError) fields.vm_state = VM.ERROR;
    if (p.op === 'resize' && inst.oldFlavor) Object.assign(fields, flavorColumns(inst.oldFlavor), { old_flavor: null });
    if (p.op === 'resize' && typeof p.migrationUuid === 'string') await setMigrationStatus(t, p.migrationUuid, 'error');
    await updateInstance(t, p.uuid, fields);
    await addFault(t, p.uuid, 500, errText(err), errDetails(err), inst.host);
  });
}

export function flavorColumns(f: InstanceFlavor) {
  return {
    vcpus: f.vcpus, memory_mb: f.memoryMb, root_gb: f.rootGb, ephemeral_gb: f.ephemeralGb, swap_mb: f.swapMb,
    flavor_id: f.id, flavor: f,
  };
}

// ---- build -------------------------------------------------------------------------------------

async function build(ctx: Context, task: TaskRecord) {
  const { uuid, actionId } = task.payload as { uuid: string; actionId?: string };
  let inst = await getInstance(ctx.db, uuid);
  // Deleted, or a delete (task_state deleting) is queued behind us: nothing to build.
  if (!inst || inst.deleted || inst.vmState !== VM.BUILDING || (inst.taskState !== 'scheduling' && inst.taskState !== 'spawning')) return;
  const tried: string[] = JSON.parse(inst.systemMetadata.retry_nodes ?? '[]');

  for (;;) {
    if (!inst.node) {
      try {
        await withEvent(ctx, actionId, 'conductor_schedule_and_build_instances', conductorHost(), () => ctx.db.tx(async (t) => {
          const cur = await getInstance(t, uuid);
          if (!cur || cur.deleted || cur.vmState !== VM.BUILDING || cur.node || (cur.taskState !== 'scheduling' && cur.taskState !== 'spawning')) return;
          if (cur.trustedCerts?.length) throw new NoValidHost('No compute node supports trusted image certificate validation.');
          const node = await selectDestination(t, cur, { exclude: tried });
          await updateInstance(t, uuid, {
            node: node.hypervisorHostname, host: node.host, availability_zone: node.availabilityZone, task_state: 'spawning',
          }, { expectTask: ['scheduling', 'spawning'] });
        }));
      } catch (e) {
        if (e instanceof NoValidHost) {
          const msg = tried.length ? `Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance ${uuid}.` : e.message;
          await setError(ctx, uuid, 500, msg, errDetails(e), ['scheduling', 'spawning']);
          return;
        }
        throw e;
      }
      inst = await getInstance(ctx.db, uuid);
      if (!inst || inst.deleted || inst.taskState !== 'spawning' || !inst.node) return;
    }
    const placed = inst;
    try {
      await withEvent(ctx, actionId, 'compute__do_build_and_run_instance', placed.host, async () => {
        const image = placed.imageRef ? await imageSpec(ctx, placed.imageRef) : null;
        // Nova's _build_resources: ports bound to the host, then the volumes connected, then spawn.
        const spec = await instanceSpec(ctx, placed);
        const vifs = await allocateNetworks(ctx, placed);
        const bdms = (await bdmsOf(ctx.db, uuid)).filter((b) => b.destinationType === 'volume');
        const disks: DiskSpec[] = [];
        for (const b of bdms) disks.push(await connectVolume(ctx, placed, b));
        spec.vifs = vifs.map(vifSpec);
        spec.disks = disks;
        const volumeBacked = isVolumeBacked(bdms);
        // The boot disk of a volume-backed server is its volume: no root disk on the datastore.
        if (volumeBacked) spec.flavor = { ...spec.flavor, rootGb: 0 };
        const info = await ctx.driver.spawn(spec, volumeBacked ? null : image);
        // Plugged again (idempotent) for drivers that leave InstanceSpec.vifs/disks to the caller.
        for (const v of spec.vifs) await ctx.driver.attachInterface(uuid, v);
        for (const d of disks) await ctx.driver.attachDisk(uuid, d);
        for (const b of bdms) await completeAttach(ctx, b);
        await updateInstance(ctx.db, uuid, {
          vm_state: VM.ACTIVE, task_state: null, power_state: info.powerState, launched_at: nowIso(), progress: 0,
        }, { expectTask: ['spawning'], expectVm: [VM.BUILDING] });
      });
      return;
    } catch (e) {
      if (e instanceof ImageGone) {
        await setError(ctx, uuid, 404, e.message, errDetails(e), ['spawning']);
        await releaseNetworks(ctx, uuid);
        return;
      }
      if (e instanceof NetworkAllocationFailed || e instanceof VolumeFailed) {
        await setError(ctx, uuid, 500, `Build of instance ${uuid} aborted: ${e.message}`, errDetails(e), ['spawning']);
        await releaseNetworks(ctx, uuid);
        return;
      }
      if (!(e instanceof VirtDriverError) || unreachable(e)) throw e;
      // Reschedule to another node, as Nova's compute does for build failures.
      try { await ctx.driver.destroy(uuid); } catch { /* the VM may not exist */ }
      tried.push(placed.node!);
      if (tried.length >= MAX_ATTEMPTS) {
        await setError(ctx, uuid, 500, `Exceeded maximum number of retries. Exceeded max scheduling attempts ${MAX_ATTEMPTS} for instance ${uuid}. Last exception: ${e.message}`, errDetails(e), ['spawning']);
        await releaseNetworks(ctx, uuid);
        return;
      }
      const ok = await ctx.db.tx(async (t) => {
        const cur = await getInstance(t, uuid);
        if (!cur || cur.deleted || cur.taskState !== 'spawning') return false;
        await updateInstance(t, uuid, { node: null, host: null, system_metadata: { ...cur.systemMetadata, retry_nodes: JSON.stringify(tried) } }, { expectTask: ['spawning'] });
        return true;
      });
      if (!ok) return;
      inst = (await getInstance(ctx.db, uuid))!;
    }
  }
}

// ---- delete ------------------------------------------------------------------------------------

/** Terminates an instance: destroys its VM, then marks the row deleted (quota and usage free up). */
async function terminate(ctx: Context, task: TaskRecord) {
  const { uuid, actionId } = task.payload as { uuid: string; actionId?: string };
  const inst = await getInstance(ctx.db, uuid);
  if (!inst || inst.deleted || inst.taskState !== 'deleting') return;
  await withEvent(ctx, actionId, 'compute_terminate_instance', inst.host, async () => {
    // Nova's _shutdown_instance then _cleanup_volumes: the VM, its ports, its volumes (each step idempotent).
    await ctx.driver.destroy(uuid);
    await deallocateNetworks(ctx, uuid);
    await releaseAllVolumes(ctx, inst);
    const shelved = inst.systemMetadata.shelved_image_id;
    if (shelved && ctx.services.image) {
      try { await ctx.services.image.delete(shelved); } catch (e) { ctx.log.warn(`could not delete shelved image ${shelved}`, e); }
    }
    await ctx.db.tx(async (t) => {
      const now = nowIso();
      const done = await updateInstance(t, uuid, {
        deleted: 1, vm_state: VM.DELETED, task_state: null, power_state: PowerState.NOSTATE, terminated_at: now, deleted_at: now,
      }, { expectTask: ['deleting'] });
      if (done) await removeInstanceFromGroups(t, uuid);
    });
  });
}

// ---- actions -----------------------------------------------------------------------------------

/** Final state after an action, only if our task_state is still the instance's. */
async function finish(ctx: Context, p: ActionPayload, fields: Record<string, unknown>) {
  return updateInstance(ctx.db, p.uuid, { task_state: null, ...fields }, { expectTask: [p.expect] });
}

async function setTask(ctx: Context, p: ActionPayload, next: string): Promise<boolean> {
  const ok = await updateInstance(ctx.db, p.uuid, { task_state: next }, { expectTask: [p.expect] });
  if (ok) p.expect = next;
  return ok;
}

const EVENTS: Record<string, string> = {
  reboot: 'compute_reboot_instance', stop: 'compute_stop_instance', start: 'compute_start_instance',
  pause: 'compute_pause_instance', unpause: 'compute_unpause_instance', suspend: 'compute_suspend_instance',
  resume: 'compute_resume_instance', rescue: 'compute_rescue_instance', unrescue: 'compute_unrescue_instance',
  rebuild: 'compute_rebuild_instance', resize: 'compute_resize_instance', confirm_resize: 'compute_confirm_resize',
  revert_resize: 'compute_revert_resize', snapshot: 'compute_snapshot_instance', backup: 'compute_backup_instance',
  shelve: 'compute_shelve_instance', shelve_offload: 'compute_shelve_offload_instance', unshelve: 'compute_unshelve_instance',
  soft_delete: 'compute_soft_delete_instance', restore: 'compute_restore_instance',
};
/** The task_states an operation moves through (the API sets the first). */
const OP_TASK_STATES: Record<string, string[]> = {
  rebuild: ['rebuilding', 'rebuild_spawning'],
  resize: ['resize_prep', 'resize_migrating', 'resize_migrated', 'resize_finish'],
  snapshot: ['image_snapshot', 'image_pending_upload', 'image_uploading'],
  backup: ['image_backup'],
  shelve: ['shelving', 'shelving_image_pending_upload', 'shelving_image_uploading', 'shelving_offloading'],
};
/** Failures that leave the server in ERROR (Nova errors these out); others only clear the task. */
const ERROR_ON_FAILURE = new Set(['reboot', 'rebuild', 'resize', 'revert_resize', 'rescue', 'unshelve']);

async function runAction(ctx: Context, task: TaskRecord) {
  const p = { ...(task.payload as ActionPayload) };
  const inst = await getInstance(ctx.db, p.uuid);
  if (!inst || inst.deleted || inst.taskState !== p.expect) return;
  try {
    await withEvent(ctx, p.actionId, EVENTS[p.op] ?? `compute_${p.op}`, inst.host, () => doAction(ctx, p, inst));
  } catch (e) {
    if (!isPermanent(e) && !(e instanceof NoValidHost)) throw e;
    await cleanupAfterFailure(ctx, p);
    // A refused resize (the disk cannot shrink) rolls back, as Nova's InstanceFaultRollback does.
    const rollback = e instanceof NoValidHost || (e instanceof VirtDriverError && e.fault === 'ResizeError');
    await failAction(ctx, p, e, ERROR_ON_FAILURE.has(p.op) && !rollback);
  }
}

/** Removes half-made artifacts of a failed action (a queued snapshot image). */
async function cleanupAfterFailure(ctx: Context, p: ActionPayload) {
  if ((p.op === 'snapshot' || p.op === 'backup' || p.op === 'shelve') && typeof p.imageId === 'string' && ctx.services.image) {
    try {
      const rec = await ctx.services.image.get(p.imageId, null);
      if (rec && rec.status !== 'active') await ctx.services.image.delete(p.imageId);
    } catch (e) { ctx.log.warn(`could not delete image ${p.imageId}`, e); }
  }
}

async function uploadSnapshot(ctx: Context, p: ActionPayload, uuid: string, imageId: string, pending: string, uploading: string) {
  const api = ctx.services.image;
  if (!api) throw new ImageGone('The image service is not available');
  const rec = await api.get(imageId, null);
  if (rec?.status === 'active') return; // uploaded before a crash
  if (!rec) throw new ImageGone(`Image ${imageId} could not be found.`);
  const snap = await ctx.driver.snapshot(uuid);
  if (!(await setTask(ctx, p, pending))) { snap.stream.destroy(); return; }
  if (!(await setTask(ctx, p, uploading))) { snap.stream.destroy(); return; }
  await api.upload(imageId, snap.stream, { diskFormat: snap.diskFormat, containerFormat: snap.containerFormat });
}

async function doAction(ctx: Context, p: ActionPayload, inst: Instance): Promise<void> {
  const d = ctx.driver;
  const uuid = inst.uuid;
  switch (p.op) {
    case 'reboot':
      await d.reboot(uuid, p.type === 'HARD' ? 'HARD' : 'SOFT');
      await finish(ctx, p, { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING });
      return;
    case 'stop':
      await d.powerOff(uuid);
      await finish(ctx, p, { vm_state: VM.STOPPED, power_state: PowerState.SHUTDOWN, progress: 0 });
      return;
    case 'start':
      await d.powerOn(uuid);
      await finish(ctx, p, { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING });
      return;
    case 'pause':
      await d.pause(uuid);
      await finish(ctx, p, { vm_state: VM.PAUSED, power_state: PowerState.PAUSED });
      return;
    case 'unpause':
      await d.unpause(uuid);
      await finish(ctx, p, { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING });
      return;
    case 'suspend':
      await d.suspend(uuid);
      await finish(ctx, p, { vm_state: VM.SUSPENDED, power_state: PowerState.SUSPENDED });
      return;
    case 'resume':
      await d.resume(uuid);
      await finish(ctx, p, { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING });
      return;
    case 'rescue': {
      const ref = (p.rescueImageRef as string | undefined) ?? (inst.imageRef || undefined);
      const image = ref ? await imageSpec(ctx, ref).catch((e) => { if (p.rescueImageRef) throw e; return null; }) : null;
      await d.rescue(uuid, image);
      await finish(ctx, p, { vm_state: VM.RESCUED, power_state: PowerState.RUNNING });
      return;
    }
    case 'unrescue':
      await d.unrescue(uuid);
      await finish(ctx, p, { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING });
      return;
    case 'rebuild': {
      const image = inst.imageRef ? await imageSpec(ctx, inst.imageRef) : null;
      if (!(await setTask(ctx, p, 'rebuild_spawning'))) return;
      const cur = (await getInstance(ctx.db, uuid))!;
      await d.rebuild(await instanceSpec(ctx, cur), image);
      // A server rebuilt while stopped stays stopped (Nova powers it off again).
      if (p.wasStopped) await d.powerOff(uuid);
      await finish(ctx, p, p.wasStopped
        ? { vm_state: VM.STOPPED, power_state: PowerState.SHUTDOWN, launched_at: nowIso() }
        : { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING, launched_at: nowIso() });
      return;
    }
    case 'resize': {
      // The new flavor must fit where the VM runs (a vCenter cluster resizes in place).
      const fits = await ctx.db.tx(async (t) => {
        const cur = await getInstance(t, uuid);
        if (!cur || cur.taskState !== p.expect) return null;
        await selectDestination(t, cur, { resizeOn: cur.node ?? '' });
        return true;
      });
      if (!fits) return;
      const mig = p.migrationUuid as string | undefined;
      for (const next of ['resize_migrating', 'resize_migrated', 'resize_finish']) if (!(await setTask(ctx, p, next))) return;
      if (mig) await setMigrationStatus(ctx.db, mig, 'migrating');
      await d.resize(uuid, inst.flavor);
      const info = await d.getInfo(uuid);
      if (await finish(ctx, p, { vm_state: VM.RESIZED, power_state: info?.powerState ?? inst.powerState }) && mig) {
        await setMigrationStatus(ctx.db, mig, 'finished');
      }
      return;
    }
    case 'confirm_resize': {
      await d.confirmResize(uuid);
      if (await finish(ctx, p, { vm_state: inst.powerState === PowerState.SHUTDOWN ? VM.STOPPED : VM.ACTIVE, old_flavor: null })) {
        await markResizeMigration(ctx, uuid, 'confirmed');
      }
      return;
    }
    case 'revert_resize': {
      const old = inst.oldFlavor ?? inst.flavor;
      await d.revertResize(uuid, old);
      const info = await d.getInfo(uuid);
      const power = info?.powerState ?? inst.powerState;
      if (await finish(ctx, p, { ...flavorColumns(old), old_flavor: null, power_state: power, vm_state: power === PowerState.SHUTDOWN ? VM.STOPPED : VM.ACTIVE })) {
        await markResizeMigration(ctx, uuid, 'reverted');
      }
      return;
    }
    case 'snapshot':
    case 'backup': {
      await uploadSnapshot(ctx, p, uuid, p.imageId as string, p.op === 'snapshot' ? 'image_pending_upload' : 'image_backup', p.op === 'snapshot' ? 'image_uploading' : 'image_backup');
      if (p.op === 'backup') await rotateBackups(ctx, inst, p);
      await finish(ctx, p, {});
      return;
    }
    case 'shelve': {
      if (p.imageId) {
        await uploadSnapshot(ctx, p, uuid, p.imageId as string, 'shelving_image_pending_upload', 'shelving_image_uploading');
      }
      await d.powerOff(uuid);
      const sm = { ...inst.systemMetadata, shelved_at: nowIso(), shelved_image_id: (p.imageId as string) ?? '', shelved_host: inst.host ?? '' };
      if (p.offload) {
        if (!(await setTask(ctx, p, 'shelving_offloading'))) return;
        await d.destroy(uuid);
        await finish(ctx, p, { vm_state: VM.SHELVED_OFFLOADED, power_state: PowerState.NOSTATE, host: null, node: null, system_metadata: sm });
      } else {
        await finish(ctx, p, { vm_state: VM.SHELVED, power_state: PowerState.SHUTDOWN, system_metadata: sm });
      }
      return;
    }
    case 'shelve_offload':
      await d.destroy(uuid);
      await finish(ctx, p, { vm_state: VM.SHELVED_OFFLOADED, power_state: PowerState.NOSTATE, host: null, node: null });
      return;
    case 'unshelve':
      await unshelve(ctx, p, inst);
      return;
    case 'soft_delete':
      await d.powerOff(uuid);
      await finish(ctx, p, { vm_state: VM.SOFT_DELETED, power_state: PowerState.SHUTDOWN });
      return;
    case 'restore':
      await d.powerOn(uuid);
      await finish(ctx, p, { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING, deleted_at: null });
      return;
    default:
      throw new PermanentError(`unknown compute action ${p.op}`);
  }
}

async function markResizeMigration(ctx: Context, uuid: string, status: string) {
  const m = await latestMigration(ctx.db, uuid);
  if (m && m.migration_type === 'resize') await setMigrationStatus(ctx.db, m.uuid, status);
}

async function unshelve(ctx: Context, p: ActionPayload, inst: Instance) {
  const uuid = inst.uuid;
  const sm = { ...inst.systemMetadata };
  const imageId = sm.shelved_image_id;
  const clean = () => { delete sm.shelved_at; delete sm.shelved_image_id; delete sm.shelved_host; return sm; };
  if (inst.node && inst.vmState === VM.SHELVED) {
    await ctx.driver.powerOn(uuid);
    await finish(ctx, p, { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING, system_metadata: clean() });
    if (imageId && ctx.services.image) await ctx.services.image.delete(imageId).catch(() => undefined);
    return;
  }
  if (!inst.node) {
    await withEvent(ctx, p.actionId, 'conductor_unshelve_instance', conductorHost(), () => ctx.db.tx(async (t) => {
      const cur = await getInstance(t, uuid);
      if (!cur || cur.taskState !== p.expect || cur.node) return;
      const node = await selectDestination(t, cur);
      await updateInstance(t, uuid, { node: node.hypervisorHostname, host: node.host, availability_zone: node.availabilityZone }, { expectTask: [p.expect] });
    }));
  }
  const cur = await getInstance(ctx.db, uuid);
  if (!cur || cur.taskState !== p.expect || !cur.node) return;
  const image = imageId ? await imageSpec(ctx, imageId) : cur.imageRef ? await imageSpec(ctx, cur.imageRef) : null;
  const info = await ctx.driver.spawn(await instanceSpec(ctx, cur), image);
  await replugDevices(ctx, uuid);
  const ok = await finish(ctx, p, { vm_state: VM.ACTIVE, power_state: info.powerState, system_metadata: clean() });
  if (ok && imageId && ctx.services.image) await ctx.services.image.delete(imageId).catch(() => undefined);
}

/** A VM made again (unshelve of an offloaded server) gets its NICs and volumes back. */
async function replugDevices(ctx: Context, uuid: string) {
  const vifs = (await vifsOf(ctx, [uuid])).get(uuid) ?? [];
  for (const v of vifs) await ctx.driver.attachInterface(uuid, vifSpec(v));
  const inst = await getInstance(ctx.db, uuid);
  if (!inst) return;
  for (const b of await bdmsOf(ctx.db, uuid)) {
    if (b.destinationType !== 'volume' || !b.volumeId || (b.status !== 'attached' && b.status !== 'attaching')) continue;
    // Connected again from the new host (attachment update), then plugged and completed.
    const disk = await connectVolume(ctx, inst, b);
    await ctx.driver.attachDisk(uuid, disk);
    await completeAttach(ctx, b);
  }
}

/**
 * createBackup's rotation: keep the newest `rotation` backups of this type for the server. The
 * backups of each type are remembered in the instance's system metadata (newest first).
 */
async function rotateBackups(ctx: Context, inst: Instance, p: ActionPayload) {
  const rotation = Number(p.rotation ?? 0);
  const key = `backups:${String(p.backupType)}`;
  const cur = await getInstance(ctx.db, inst.uuid);
  if (!cur) return;
  const known: string[] = JSON.parse(cur.systemMetadata[key] ?? '[]');
  const all = [p.imageId as string, ...known.filter((id) => id !== p.imageId)];
  const keep = all.slice(0, rotation);
  for (const id of all.slice(rotation)) {
    try { await ctx.services.image?.delete(id); } catch (e) { ctx.log.warn(`backup rotation: could not delete ${id}`, e); }
  }
  await updateInstance(ctx.db, inst.uuid, { system_metadata: { ...cur.systemMetadata, [key]: JSON.stringify(keep) } });
}

// ---- registration ----------------------------------------------------------------------------

export function registerTasks(ctx: Context) {
  ctx.tasks.register(BUILD, {
    run: (t) => build(ctx, t),
    async onFailure(t, err) {
      await setError(ctx, t.payload.uuid, 500, `Build of instance ${t.payload.uuid} aborted: ${errText(err)}`, errDetails(err), ['scheduling', 'spawning']);
      await releaseNetworks(ctx, t.payload.uuid);
    },
  });
  ctx.tasks.register(DELETE, {
    run: (t) => terminate(ctx, t),
    async onFailure(t, err) {
      // Nova leaves a server whose delete failed in ERROR, deletable again.
      await ctx.db.tx(async (tx) => {
        const inst = await getInstance(tx, t.payload.uuid);
        if (!inst || inst.deleted || inst.taskState !== 'deleting') return;
        await updateInstance(tx, inst.uuid, { vm_state: VM.ERROR, task_state: null });
        await addFault(tx, inst.uuid, 500, errText(err), errDetails(err), inst.host);
      });
    },
  });
  ctx.tasks.register(ACTION, {
    run: (t) => runAction(ctx, t),
    async onFailure(t, err) {
      const p = t.payload as ActionPayload;
      await cleanupAfterFailure(ctx, p);
      // The task may have moved to a later task_state of its own before failing.
      const inst = await getInstance(ctx.db, p.uuid);
      const own = OP_TASK_STATES[p.op] ?? [p.expect];
      if (inst && inst.taskState && (inst.taskState === p.expect || own.includes(inst.taskState))) {
        await failAction(ctx, { ...p, expect: inst.taskState }, err, ERROR_ON_FAILURE.has(p.op));
      }
    },
  });
}
