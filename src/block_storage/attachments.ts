// The attachment state machine shared by Nova's flow (attachments API semantics: create =
// reserve, update = connector in / connection info out, complete, delete) and the legacy volume
// actions (os-reserve, os-attach, os-begin_detaching, os-detach ...). Each step runs in one
// transaction under the volume's lock, so that two instances racing for one volume that is not
// multiattach see exactly one winner; the other gets Cinder's "Invalid volume" 400.
//
// An attachment is reserved → attaching → attached (→ detaching while a legacy detach runs);
// the volume's status and attach_status follow from its attachments:
//   any attached → in-use/attached; else attaching → attaching; else reserved → reserved; else available/detached.
import type { Context } from '../core/service.ts';
import type { Tx } from '../core/db/index.ts';
import type { ConnectionInfo } from './api.ts';
import { toJson } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { nowIso, uuid } from '../core/ids.ts';
import { notFoundError } from './common.ts';
import { getVolume, toAttachment, updateVolume, type AttachmentRow, type VolumeRow } from './volumes.ts';

/** Statuses in which a volume's status is derived from its attachments. */
const ATTACH_STATES = ['available', 'reserved', 'attaching', 'in-use', 'detaching'];

export const invalidVolume = (m: string) => new ApiError(400, `Invalid volume: ${m}`);

/** Locks the volume (serialising every attach/detach step on it) and reads it. */
export async function lockVolume(t: Tx, volumeId: string): Promise<VolumeRow | null> {
  await t.lock(`cinder:volume:${volumeId}`);
  return getVolume(t, volumeId, t.forUpdate);
}

/** lockVolume for a volume the caller found before its transaction: gone since then is a 404. */
export async function lockFoundVolume(t: Tx, volumeId: string): Promise<VolumeRow> {
  const v = await lockVolume(t, volumeId);
  if (!v) throw notFoundError('Volume', volumeId);
  return v;
}

export async function attachmentRows(t: Tx, volumeId: string): Promise<AttachmentRow[]> {
  return (await t.all('SELECT * FROM cinder_attachments WHERE volume_id = ? ORDER BY created_at, id', [volumeId])).map(toAttachment);
}

/** Sets the volume's status and attach_status from its attachments (while in an attach state). */
export async function recomputeStatus(t: Tx, volumeId: string): Promise<void> {
  const v = await getVolume(t, volumeId);
  if (!v || !ATTACH_STATES.includes(v.status)) return;
  const atts = await attachmentRows(t, volumeId);
  const has = (s: string) => atts.some((a) => a.status === s);
  let status = 'available', attach = 'detached';
  if (has('attached') || has('detaching')) { status = v.status === 'detaching' && !has('attaching') ? 'detaching' : 'in-use'; attach = 'attached'; }
  else if (has('attaching')) { status = 'attaching'; attach = 'attaching'; }
  else if (has('reserved')) { status = 'reserved'; attach = 'reserved'; }
  else if (v.status === 'attaching' && atts.length === 0 && v.attach_status === 'attaching') { status = 'attaching'; attach = 'attaching'; } // legacy os-reserve
  if (status !== v.status || attach !== v.attach_status) await updateVolume(t, volumeId, { status, attach_status: attach });
}

/** May `v` take one more attachment now? 400 as Cinder otherwise. */
function checkReservable(v: VolumeRow, atts: AttachmentRow[], o: { allowAttaching?: boolean } = {}) {
  if (v.status === 'available' || (o.allowAttaching && v.status === 'attaching' && atts.length === 0)) return;
  if (v.multiattach && ['in-use', 'reserved', 'attaching'].includes(v.status)) return;
  throw invalidVolume(`Volume ${v.id} status must be available or downloading to reserve, but the current status is ${v.status}.`);
}

/**
 * Reserves the volume for an instance (attachment create without connector). Idempotent per
 * (volume, instance). `projectId` null: any project (admins).
 */
export async function reserveAttachment(ctx: Context, o: { volumeId: string; instanceId: string | null; projectId: string | null; mode?: 'rw' | 'ro' }): Promise<string> {
  return ctx.db.tx(async (t) => {
    const v = await lockVolume(t, o.volumeId);
    if (!v || (o.projectId !== null && v.project_id !== o.projectId)) throw notFoundError('Volume', o.volumeId);
    const atts = await attachmentRows(t, v.id);
    const mine = o.instanceId ? atts.find((a) => a.instance_id === o.instanceId) : undefined;
    if (mine) return mine.id;
    checkReservable(v, atts);
    const id = uuid();
    const ts = nowIso();
    await t.run(
      `INSERT INTO cinder_attachments (id, volume_id, instance_id, project_id, status, attach_mode, mountpoint, host, connector, attached_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'reserved', ?, NULL, NULL, NULL, NULL, ?, ?)`,
      [id, v.id, o.instanceId, v.project_id, o.mode ?? (v.readonly ? 'ro' : 'rw'), ts, ts]);
    await recomputeStatus(t, v.id);
    return id;
  });
}

export function connectionInfo(v: VolumeRow, loc: { datastore: string; path: string }): ConnectionInfo {
  return { driverVolumeType: 'vmdk', volumeId: v.id, datastore: loc.datastore, path: loc.path, sizeGb: v.size };
}

/**
 * Makes the volume reachable from the connector's host (the VMDK driver relocates its backing)
 * and returns where it is; the location is saved on the volume.
 */
export async function initializeConnection(ctx: Context, volumeId: string, host: string): Promise<ConnectionInfo> {
  const v = await getVolume(ctx.db, volumeId);
  if (!v) throw notFoundError('Volume', volumeId);
  if (!v.location) throw invalidVolume(`Volume ${volumeId} has no backing yet (status ${v.status}).`);
  const loc = host ? await ctx.volumeDriver.ensureAccessible(v.location, host) : v.location;
  if (loc.path !== v.location.path || loc.datastore !== v.location.datastore) {
    await ctx.db.tx(async (t) => { await lockVolume(t, volumeId); await updateVolume(t, volumeId, { location: loc }); });
  }
  return connectionInfo(v, loc);
}

/** Connector in, connection info out; the attachment is attaching. Idempotent. */
export async function updateAttachment(ctx: Context, attachmentId: string, connector: { host: string; instance: string; mountpoint: string }): Promise<ConnectionInfo> {
  const a0 = await ctx.db.get('SELECT * FROM cinder_attachments WHERE id = ?', [attachmentId]);
  if (!a0) throw new ApiError(404, `VolumeAttachment ${attachmentId} could not be found.`);
  const info = await initializeConnection(ctx, a0.volume_id, connector.host);
  await ctx.db.tx(async (t) => {
    await lockVolume(t, a0.volume_id);
    const a = await t.get('SELECT * FROM cinder_attachments WHERE id = ?', [attachmentId]);
    if (!a) throw new ApiError(404, `VolumeAttachment ${attachmentId} could not be found.`);
    await t.run(`UPDATE cinder_attachments SET status = CASE WHEN status = 'attached' THEN status ELSE 'attaching' END, host = ?, mountpoint = ?,
      connector = ?, instance_id = COALESCE(instance_id, ?), updated_at = ? WHERE id = ?`,
      [connector.host || null, connector.mountpoint || null, toJson(connector), connector.instance || null, nowIso(), attachmentId]);
    await recomputeStatus(t, a0.volume_id);
  });
  return info;
}

/** The disk is on the VM: attached; the volume in-use. Idempotent. */
export async function completeAttachment(ctx: Context, attachmentId: string): Promise<void> {
  await ctx.db.tx(async (t) => {
    const a0 = await t.get('SELECT volume_id FROM cinder_attachments WHERE id = ?', [attachmentId]);
    if (!a0) throw new ApiError(404, `VolumeAttachment ${attachmentId} could not be found.`);
    await lockVolume(t, a0.volume_id);
    await t.run(`UPDATE cinder_attachments SET status = 'attached', attached_at = COALESCE(attached_at, ?), updated_at = ? WHERE id = ?`, [nowIso(), nowIso(), attachmentId]);
    await recomputeStatus(t, a0.volume_id);
  });
}

/** Removes the attachment; the volume is available again when it was the last. Succeeds when gone. */
export async function deleteAttachment(ctx: Context, attachmentId: string): Promise<void> {
  await ctx.db.tx(async (t) => {
    const a0 = await t.get('SELECT volume_id FROM cinder_attachments WHERE id = ?', [attachmentId]);
    if (!a0) return;
    const v = await lockVolume(t, a0.volume_id);
    await t.run('DELETE FROM cinder_attachments WHERE id = ?', [attachmentId]);
    // The last attachment gone while attaching (a rolled-back attach): detached again, not
    // mistaken for a legacy os-reserve, which is attaching without any attachment.
    if (v && (v.status === 'attaching' || v.status === 'reserved') && !(await attachmentRows(t, v.id)).length) {
      await updateVolume(t, v.id, { status: 'available', attach_status: 'detached' });
    }
    await recomputeStatus(t, a0.volume_id);
  });
}

// ---- the legacy actions' steps ----------------------------------------------------------------

/** os-reserve: available → attaching (no attachment yet). */
export async function legacyReserve(ctx: Context, v0: VolumeRow): Promise<void> {
  await ctx.db.tx(async (t) => {
    const v = await lockFoundVolume(t, v0.id);
    checkReservable(v, await attachmentRows(t, v.id));
    if (v.status === 'available') await updateVolume(t, v.id, { status: 'attaching', attach_status: 'attaching' });
  });
}

/** os-unreserve: back from attaching when nothing got attached. */
export async function legacyUnreserve(ctx: Context, v0: VolumeRow): Promise<void> {
  await ctx.db.tx(async (t) => {
    const v = await lockFoundVolume(t, v0.id);
    if (v.status !== 'attaching') return;
    const atts = await attachmentRows(t, v.id);
    for (const a of atts) if (a.status === 'reserved') await t.run('DELETE FROM cinder_attachments WHERE id = ?', [a.id]);
    await updateVolume(t, v.id, { status: 'available', attach_status: 'detached' });
    await recomputeStatus(t, v.id);
  });
}

/** os-attach: records an attached attachment (instance or host) and makes the volume in-use. */
export async function legacyAttach(ctx: Context, v0: VolumeRow, o: { instanceId: string | null; hostName: string | null; mountpoint: string; mode: 'rw' | 'ro' }): Promise<string> {
  return ctx.db.tx(async (t) => {
    const v = await lockFoundVolume(t, v0.id);
    const atts = await attachmentRows(t, v.id);
    const mine = atts.find((a) => (o.instanceId ? a.instance_id === o.instanceId : a.host === o.hostName && !a.instance_id));
    const ts = nowIso();
    if (mine) {
      await t.run(`UPDATE cinder_attachments SET status = 'attached', mountpoint = ?, attach_mode = ?, attached_at = COALESCE(attached_at, ?), updated_at = ? WHERE id = ?`,
        [o.mountpoint, o.mode, ts, ts, mine.id]);
    } else {
      checkReservable(v, atts, { allowAttaching: true });
      await t.run(
        `INSERT INTO cinder_attachments (id, volume_id, instance_id, project_id, status, attach_mode, mountpoint, host, connector, attached_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'attached', ?, ?, ?, NULL, ?, ?, ?)`,
        [uuid(), v.id, o.instanceId, v.project_id, o.mode, o.mountpoint, o.hostName, ts, ts, ts]);
    }
    if (v.status === 'available' || v.status === 'attaching') await updateVolume(t, v.id, { status: 'in-use', attach_status: 'attached' });
    await recomputeStatus(t, v.id);
    return mine?.id ?? '';
  });
}

/** os-begin_detaching: in-use → detaching. */
export async function legacyBeginDetaching(ctx: Context, v0: VolumeRow): Promise<void> {
  await ctx.db.tx(async (t) => {
    const v = await lockFoundVolume(t, v0.id);
    if (v.status !== 'in-use' || v.attach_status !== 'attached') {
      throw invalidVolume("Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.");
    }
    await updateVolume(t, v.id, { status: 'detaching' });
  });
}

/** os-roll_detaching: detaching → in-use (the detach did not happen). */
export async function legacyRollDetaching(ctx: Context, v0: VolumeRow): Promise<void> {
  await ctx.db.tx(async (t) => {
    const v = await lockFoundVolume(t, v0.id);
    if (v.status === 'detaching') await updateVolume(t, v.id, { status: 'in-use' });
  });
}

/** os-detach: removes the given (or the only) attachment; a detached volume stays as it is. */
export async function legacyDetach(ctx: Context, v0: VolumeRow, attachmentId: string | null): Promise<void> {
  await ctx.db.tx(async (t) => {
    const v = await lockFoundVolume(t, v0.id);
    const atts = await attachmentRows(t, v.id);
    if (!atts.length) {
      // Cinder's manager answers a detach of a detached volume by making sure it is available.
      if (['in-use', 'detaching', 'attaching', 'reserved'].includes(v.status)) await updateVolume(t, v.id, { status: 'available', attach_status: 'detached' });
      return;
    }
    let a: AttachmentRow | undefined;
    if (attachmentId) {
      a = atts.find((x) => x.id === attachmentId);
      if (!a) throw new ApiError(404, `VolumeAttachment ${attachmentId} could not be found.`);
    } else if (atts.length === 1) {
      a = atts[0];
    } else {
      throw badRequest('Invalid input received: Detach volume failed: More than one attachment, but no attachment_id provided.');
    }
    await t.run('DELETE FROM cinder_attachments WHERE id = ?', [a.id]);
    if (v.status === 'detaching') await updateVolume(t, v.id, { status: atts.length > 1 ? 'in-use' : 'available' });
    await recomputeStatus(t, v.id);
  });
}

/** os-force_detach (admin): the attachment (or every one) goes, whatever the volume's status. */
export async function forceDetach(ctx: Context, v0: VolumeRow, attachmentId: string | null): Promise<void> {
  await ctx.db.tx(async (t) => {
    const v = await lockFoundVolume(t, v0.id);
    const atts = await attachmentRows(t, v.id);
    if (attachmentId && !atts.some((a) => a.id === attachmentId)) throw new ApiError(404, `VolumeAttachment ${attachmentId} could not be found.`);
    for (const a of atts) if (!attachmentId || a.id === attachmentId) await t.run('DELETE FROM cinder_attachments WHERE id = ?', [a.id]);
    const left = atts.length - (attachmentId ? 1 : atts.length);
    await updateVolume(t, v.id, left ? { status: 'in-use', attach_status: 'attached' } : { status: 'available', attach_status: 'detached' });
    await recomputeStatus(t, v.id);
  });
}
