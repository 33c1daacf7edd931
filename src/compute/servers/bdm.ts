// Nova's block_device_mappings: one row per volume on an instance (boot volume, volumes created
// at boot from an image, a snapshot or blank, volumes attached later). Nova reaches Cinder only
// through ctx.services.volume (the attachments API flow of nova/volume/cinder.py) and puts the
// disk on the VM through ctx.driver. Every step that crosses a service is done by a durable task
// (or repeated by one), and the row is written BEFORE the remote object exists, so after a crash
// nothing exists in Cinder that this table does not name: a volume Nova creates has its id chosen
// here first, an attachment is per (volume, instance) and is looked up again on a rerun.
import type { Queryable } from '../../core/db/index.ts';
import type { Migration } from '../../core/db/migrate.ts';
import type { Context } from '../../core/service.ts';
import type { DiskSpec } from '../../core/virt.ts';
import { ApiError } from '../../core/errors.ts';
import { InstanceNotFound } from '../../core/virt.ts';
import { nowIso, uuid as newUuid } from '../../core/ids.ts';
import type { Instance } from './db.ts';

export const bdmMigrations: Migration[] = [{
  id: 'compute-300-block-device-mappings',
  sql: `
CREATE TABLE block_device_mappings (
  id TEXT PRIMARY KEY,
  instance_uuid TEXT NOT NULL,
  source_type TEXT NOT NULL,
  destination_type TEXT NOT NULL,
  image_id TEXT,
  snapshot_id TEXT,
  volume_id TEXT,
  volume_size INTEGER,
  volume_type TEXT,
  device_name TEXT,
  boot_index INTEGER,
  delete_on_termination INTEGER NOT NULL DEFAULT 0,
  tag TEXT,
  attachment_id TEXT,
  connection_info TEXT,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX bdm_instance_idx ON block_device_mappings (instance_uuid, created_at);
CREATE INDEX bdm_volume_idx ON block_device_mappings (volume_id)`,
}];

/**
 * status (ours, Nova keeps it in the compute manager's head): `creating` a volume Nova makes at
 * boot, `reserved` attachment requested by the API, `attaching`, `attached`, `detaching`.
 */
export interface Bdm {
  id: string;
  instanceUuid: string;
  sourceType: 'image' | 'volume' | 'snapshot' | 'blank';
  destinationType: 'volume' | 'local';
  imageId: string | null;
  snapshotId: string | null;
  volumeId: string | null;
  volumeSize: number | null;
  volumeType: string | null;
  deviceName: string | null;
  bootIndex: number | null;
  deleteOnTermination: boolean;
  tag: string | null;
  attachmentId: string | null;
  status: string;
  createdAt: string;
}

function fromRow(r: any): Bdm {
  return {
    id: r.id, instanceUuid: r.instance_uuid, sourceType: r.source_type, destinationType: r.destination_type,
    imageId: r.image_id ?? null, snapshotId: r.snapshot_id ?? null, volumeId: r.volume_id ?? null,
    volumeSize: r.volume_size === null || r.volume_size === undefined ? null : Number(r.volume_size),
    volumeType: r.volume_type ?? null, deviceName: r.device_name ?? null,
    bootIndex: r.boot_index === null || r.boot_index === undefined ? null : Number(r.boot_index),
    deleteOnTermination: Number(r.delete_on_termination) !== 0, tag: r.tag ?? null, attachmentId: r.attachment_id ?? null,
    status: r.status, createdAt: r.created_at,
  };
}

export type NewBdm = Omit<Bdm, 'id' | 'createdAt' | 'attachmentId'> & { id?: string };

export async function insertBdm(q: Queryable, b: NewBdm): Promise<string> {
  const id = b.id ?? newUuid();
  const now = nowIso();
  await q.run(`INSERT INTO block_device_mappings (id, instance_uuid, source_type, destination_type, image_id, snapshot_id, volume_id,
    volume_size, volume_type, device_name, boot_index, delete_on_termination, tag, status, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    id, b.instanceUuid, b.sourceType, b.destinationType, b.imageId, b.snapshotId, b.volumeId, b.volumeSize, b.volumeType,
    b.deviceName, b.bootIndex, b.deleteOnTermination ? 1 : 0, b.tag, b.status, now, now]);
  return id;
}

export async function getBdm(q: Queryable, id: string): Promise<Bdm | null> {
  const r = await q.get('SELECT * FROM block_device_mappings WHERE id = ?', [id]);
  return r ? fromRow(r) : null;
}

/** The instance's mappings, boot volume first then in creation order. */
export async function bdmsOf(q: Queryable, instanceUuid: string): Promise<Bdm[]> {
  const rows = await q.all('SELECT * FROM block_device_mappings WHERE instance_uuid = ? ORDER BY created_at, id', [instanceUuid]);
  return rows.map(fromRow).sort(bootOrder);
}

function bootOrder(a: Bdm, b: Bdm): number {
  const ka = a.bootIndex === null || a.bootIndex < 0 ? Infinity : a.bootIndex;
  const kb = b.bootIndex === null || b.bootIndex < 0 ? Infinity : b.bootIndex;
  return ka - kb;
}

/** Volume mappings of many instances (server views' os-extended-volumes:volumes_attached), one query per 500. */
export async function volumesOf(q: Queryable, uuids: string[]): Promise<Map<string, Bdm[]>> {
  const out = new Map<string, Bdm[]>();
  for (let i = 0; i < uuids.length; i += 500) {
    const chunk = uuids.slice(i, i + 500);
    const rows = await q.all(`SELECT * FROM block_device_mappings WHERE destination_type = 'volume' AND instance_uuid IN (${chunk.map(() => '?').join(',')})
      ORDER BY created_at, id`, chunk);
    for (const r of rows) {
      const b = fromRow(r);
      let l = out.get(b.instanceUuid);
      if (!l) out.set(b.instanceUuid, (l = []));
      l.push(b);
    }
  }
  for (const l of out.values()) l.sort(bootOrder);
  return out;
}

export async function updateBdm(q: Queryable, id: string, fields: Record<string, unknown>): Promise<void> {
  const keys = Object.keys(fields);
  await q.run(`UPDATE block_device_mappings SET ${keys.map((k) => `${k} = ?`).join(', ')}, updated_at = ? WHERE id = ?`,
    [...keys.map((k) => fields[k] as any), nowIso(), id]);
}

export async function deleteBdm(q: Queryable, id: string): Promise<void> {
  await q.run('DELETE FROM block_device_mappings WHERE id = ?', [id]);
}

/** Is this a volume-backed instance (its boot disk is a volume)? */
export function isVolumeBacked(bdms: Bdm[]): boolean {
  return bdms.some((b) => b.bootIndex === 0 && b.destinationType === 'volume');
}

/**
 * The next free device name, as the VMware driver hands them out: the root disk is /dev/sda, the
 * flavor's ephemeral and swap disks come next, then volumes: /dev/sdb, /dev/sdc ...
 */
export function nextDeviceName(inst: Pick<Instance, 'ephemeralGb' | 'swapMb'>, used: (string | null)[], volumeBacked: boolean): string {
  const taken = new Set(used.filter((d): d is string => !!d));
  taken.add('/dev/sda');
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  // Local disks of the flavor take the first letters after the root one (not for a volume-backed root).
  let skip = 0;
  if (inst.ephemeralGb > 0) skip++;
  if (inst.swapMb > 0) skip++;
  for (let i = 1; i < 26 * 27; i++) {
    const name = i < 26 ? `/dev/sd${letters[i]}` : `/dev/sd${letters[Math.floor(i / 26) - 1]}${letters[i % 26]}`;
    if (skip > 0 && !volumeBacked) { skip--; continue; }
    if (!taken.has(name)) return name;
  }
  throw new ApiError(400, 'No free disk device names for prefix \'sd\'');
}

// ---- compute-side flows -------------------------------------------------------------------

/** A volume problem that must not be retried: the operation fails (build → ERROR, attach rolled back). */
export class VolumeFailed extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long the build waits for a volume Nova asked Cinder to create (Nova: block_device_allocate_retries × interval). */
const VOLUME_WAIT_MS = 180_000;

/**
 * Waits until Cinder's volume is `available` (Nova's _await_block_device_map_created). The volume
 * is created here if it does not exist yet: its id was chosen when the row was written.
 */
async function ensureVolume(ctx: Context, inst: Instance, b: Bdm): Promise<string> {
  const api = ctx.services.volume!;
  let volumeId = b.volumeId;
  if (b.sourceType !== 'volume' && b.status === 'creating') {
    if (!volumeId) throw new VolumeFailed(`Block device mapping ${b.id} has no volume id`);
    const existing = await api.get(volumeId);
    if (!existing) {
      try {
        await api.create({
          id: volumeId, projectId: inst.projectId, userId: inst.userId, sizeGb: b.volumeSize ?? 0,
          name: b.sourceType === 'image' ? `${inst.uuid}-image` : b.sourceType === 'snapshot' ? `${inst.uuid}-snapshot` : `${inst.uuid}-blank`,
          imageId: b.sourceType === 'image' ? b.imageId : null,
          snapshotId: b.sourceType === 'snapshot' ? b.snapshotId : null,
          volumeType: b.volumeType, availabilityZone: null,
        });
      } catch (e) {
        if (e instanceof ApiError && e.status < 500) throw new VolumeFailed(e.message);
        throw e;
      }
    }
  }
  if (!volumeId) throw new VolumeFailed(`Block device mapping ${b.id} has no volume id`);
  const deadline = Date.now() + VOLUME_WAIT_MS;
  let delay = 20;
  for (let attempt = 1; ; attempt++) {
    const v = await api.get(volumeId);
    if (!v) throw new VolumeFailed(`Volume ${volumeId} could not be found.`);
    if (v.status === 'available' || v.status === 'reserved' || v.status === 'attaching' || v.status === 'in-use') {
      if (v.status !== 'available' && !v.attachments.some((a) => a.instanceId === inst.uuid) && b.sourceType !== 'volume') {
        throw new VolumeFailed(`Volume ${volumeId} is in use by another instance`);
      }
      return volumeId;
    }
    if (v.status === 'error' || Date.now() > deadline) {
      throw new VolumeFailed(`Volume ${volumeId} did not finish being created even after we waited ${Math.round((Date.now() - deadline + VOLUME_WAIT_MS) / 1000)} seconds or ${attempt} attempts. And its status is ${v.status}.`);
    }
    await sleep(delay);
    delay = Math.min(500, delay * 2);
  }
}

/**
 * Attaches one mapping's volume up to "the connection info is known" and returns the disk for the
 * driver: attachment create (idempotent per volume and instance) → attachment update with the
 * connector. The caller plugs the disk, then calls completeAttach.
 */
export async function connectVolume(ctx: Context, inst: Instance, b: Bdm): Promise<DiskSpec> {
  const api = ctx.services.volume;
  if (!api) throw new VolumeFailed('The volume service is not available');
  const volumeId = await ensureVolume(ctx, inst, b);
  let attachmentId = b.attachmentId;
  try {
    if (!attachmentId) {
      // Any project's volume: the API checked with the requester's credentials that this one may
      // be used (an admin may attach another project's volume) when it wrote the mapping.
      attachmentId = await api.attachmentCreate(null, volumeId, inst.uuid);
      await updateBdm(ctx.db, b.id, { attachment_id: attachmentId, status: 'attaching' });
    }
    const conn = await api.attachmentUpdate(attachmentId, { host: inst.host ?? '', instance: inst.uuid, mountpoint: b.deviceName ?? '' });
    await updateBdm(ctx.db, b.id, { connection_info: JSON.stringify(conn) });
    return { volumeId, datastore: conn.datastore, path: conn.path, sizeGb: conn.sizeGb };
  } catch (e) {
    if (e instanceof ApiError && e.status < 500) throw new VolumeFailed(e.message);
    throw e;
  }
}

export async function completeAttach(ctx: Context, b: Bdm): Promise<void> {
  const cur = await getBdm(ctx.db, b.id);
  if (!cur?.attachmentId) return;
  await ctx.services.volume!.attachmentComplete(cur.attachmentId);
  await updateBdm(ctx.db, b.id, { status: 'attached' });
}

/**
 * Undoes one mapping: the disk off the VM (when there is one), the attachment deleted, the volume
 * deleted when asked, the row removed. Each step succeeds when already done.
 */
export async function releaseVolume(ctx: Context, inst: Pick<Instance, 'uuid'>, b: Bdm, o: { detachFromVm: boolean; deleteVolume: boolean }): Promise<void> {
  const api = ctx.services.volume;
  if (o.detachFromVm && b.volumeId) {
    try { await ctx.driver.detachDisk(inst.uuid, b.volumeId); } catch (e) { if (!(e instanceof InstanceNotFound)) throw e; }
  }
  if (api) {
    // An attachment made just before a crash is not in the row yet: look it up on the volume.
    const ids = new Set<string>();
    if (b.attachmentId) ids.add(b.attachmentId);
    const v = b.volumeId ? await api.get(b.volumeId) : null;
    for (const a of v?.attachments ?? []) if (a.instanceId === inst.uuid) ids.add(a.attachmentId);
    for (const id of ids) await api.attachmentDelete(id);
    if (o.deleteVolume && b.volumeId && v) await api.delete(b.volumeId);
  }
  await deleteBdm(ctx.db, b.id);
}

/** Every volume of a terminated instance: detached, deleted when delete_on_termination (Nova's _cleanup_volumes). */
export async function releaseAllVolumes(ctx: Context, inst: Pick<Instance, 'uuid'>): Promise<void> {
  for (const b of await bdmsOf(ctx.db, inst.uuid)) {
    if (b.destinationType !== 'volume') { await deleteBdm(ctx.db, b.id); continue; }
    await releaseVolume(ctx, inst, b, { detachFromVm: false, deleteVolume: b.deleteOnTermination });
  }
}

