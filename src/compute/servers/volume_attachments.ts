// os-volume_attachments (nova/api/openstack/compute/volumes.py VolumeAttachmentController) on
// Cinder's attachments API, as Nova's compute API does it: the API checks the server and the
// volume, writes the block device mapping (device /dev/sdb, /dev/sdc ... as the VMware driver names
// them) with a durable task in one transaction, then reserves the volume (attachment create) so
// that Cinder's refusals reach the caller; the task connects (attachment update), plugs the disk
// on the VM and completes the attachment. Detach (202) is a task too: the disk off the VM, then
// the attachment deleted. A rerun of either task after a crash finds where it stopped.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { ApiError, badRequest, conflict, notFound } from '../../core/errors.ts';
import { isUuid } from '../../core/ids.ts';
import { InstanceNotFound, VirtDriverError } from '../../core/virt.ts';
import type { TaskRecord } from '../../core/tasks.ts';
import { mv } from '../microversion.ts';
import { isAdmin, parseBoolean } from '../common.ts';
import { getInstance, updateInstance, VM, type Instance } from './db.ts';
import { checkLock, checkState, findServer } from './common.ts';
import { recordAction, withEvent } from './instance_actions.ts';
import { bdmsOf, completeAttach, connectVolume, getBdm, insertBdm, isVolumeBacked, nextDeviceName, releaseVolume, updateBdm, VolumeFailed, type Bdm } from './bdm.ts';
import * as S from './schemas.ts';
import { validateBody, type Schema } from './validate.ts';

export const VOLUME = 'compute.volume';

const project = (i: Instance) => ({ project_id: i.projectId });

/** The states in which Nova attaches and detaches volumes; shelved servers from 2.20 on. */
const BASE_STATES = [VM.ACTIVE, VM.PAUSED, VM.STOPPED, VM.RESIZED, VM.SOFT_DELETED, VM.SUSPENDED];
const attachStates = (req: FastifyRequest) => (mv(req).atLeast('2.20') ? [...BASE_STATES, VM.SHELVED, VM.SHELVED_OFFLOADED] : BASE_STATES);

const attachSchema = (req: FastifyRequest): Schema => ({
  type: 'object',
  properties: {
    volumeAttachment: {
      type: 'object',
      properties: {
        volumeId: { type: 'string', format: 'uuid' },
        device: { type: ['string', 'null'], pattern: '(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$' },
        ...(mv(req).atLeast('2.49') ? { tag: S.tag } : {}),
        ...(mv(req).atLeast('2.79') ? { delete_on_termination: S.boolean } : {}),
      },
      required: ['volumeId'],
      additionalProperties: false,
    },
  },
  required: ['volumeAttachment'],
  additionalProperties: false,
});

const updateSchema: Schema = {
  type: 'object',
  properties: {
    volumeAttachment: {
      type: 'object',
      properties: { volumeId: { type: 'string', format: 'uuid' } },
      required: ['volumeId'],
      additionalProperties: true,
    },
  },
  required: ['volumeAttachment'],
  additionalProperties: false,
};

/** Nova's attachment view: id (= volume id), serverId, volumeId, device; tag at 2.70, delete_on_termination at 2.79. */
function view(req: FastifyRequest, b: Bdm) {
  const out: Record<string, unknown> = { device: b.deviceName, id: b.volumeId, serverId: b.instanceUuid, volumeId: b.volumeId };
  if (mv(req).atLeast('2.70')) out.tag = b.tag;
  if (mv(req).atLeast('2.79')) out.delete_on_termination = b.deleteOnTermination;
  return out;
}

interface VolumePayload { uuid: string; op: 'attach' | 'detach'; bdmId: string; actionId?: string }

async function runVolumeTask(ctx: Context, task: TaskRecord) {
  const p = task.payload as VolumePayload;
  const b = await getBdm(ctx.db, p.bdmId);
  if (!b) return;
  const inst = await getInstance(ctx.db, p.uuid);
  if (!inst || inst.deleted) {
    await releaseVolume(ctx, { uuid: p.uuid }, b, { detachFromVm: false, deleteVolume: false });
    return;
  }
  if (p.op === 'attach') {
    if (b.status === 'attached' || b.status === 'detaching') return;
    await withEvent(ctx, p.actionId, 'compute_attach_volume', inst.host, async () => {
      try {
        if (inst.vmState === VM.SHELVED_OFFLOADED || !inst.node) {
          // No VM anywhere: the volume is only reserved and marked in use; unshelve connects and plugs it.
          await reserveOnly(ctx, inst, b);
          return;
        }
        const disk = await connectVolume(ctx, inst, b);
        await ctx.driver.attachDisk(inst.uuid, disk);
        await completeAttach(ctx, b);
      } catch (e) {
        if (e instanceof VolumeFailed || e instanceof VirtDriverError || e instanceof InstanceNotFound) {
          // Nova rolls a failed attach back: the disk off, the attachment deleted, the mapping gone.
          ctx.log.warn(`attach of volume ${b.volumeId} to ${inst.uuid} failed: ${e.message}`);
          await releaseVolume(ctx, inst, b, { detachFromVm: !(e instanceof InstanceNotFound), deleteVolume: false });
          return;
        }
        throw e;
      }
    });
    return;
  }
  await withEvent(ctx, p.actionId, 'compute_detach_volume', inst.host, async () => {
    await releaseVolume(ctx, inst, b, { detachFromVm: true, deleteVolume: false });
  });
}

async function reserveOnly(ctx: Context, inst: Instance, b: Bdm) {
  const api = ctx.services.volume;
  if (!api) throw new VolumeFailed('The volume service is not available');
  let attachmentId = b.attachmentId;
  try {
    if (!attachmentId) {
      // The API checked the requester may use this volume (bdm.ts connectVolume).
      attachmentId = await api.attachmentCreate(null, b.volumeId!, inst.uuid);
      await updateBdm(ctx.db, b.id, { attachment_id: attachmentId });
    }
    await api.attachmentComplete(attachmentId);
  } catch (e) {
    if (e instanceof ApiError && e.status < 500) throw new VolumeFailed(e.message);
    throw e;
  }
  await updateBdm(ctx.db, b.id, { status: 'attached' });
}

export function registerVolumeTasks(ctx: Context) {
  ctx.tasks.register(VOLUME, { run: (t) => runVolumeTask(ctx, t) });
}

async function findAttachment(ctx: Context, inst: Instance, volumeId: string): Promise<Bdm | null> {
  if (!isUuid(volumeId)) return null;
  return (await bdmsOf(ctx.db, inst.uuid)).find((b) => b.destinationType === 'volume' && b.volumeId === volumeId) ?? null;
}

export async function volumeAttachmentRoutes(app: FastifyInstance, ctx: Context) {
  const base = '/servers/:server_id/os-volume_attachments';

  app.get<{ Params: { server_id: string }; Querystring: Record<string, string> }>(base, async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-volumes-attachments:index', req.auth!, project(inst));
    const q = req.query ?? {};
    const num = (k: string) => {
      if (q[k] === undefined) return undefined;
      if (!/^[0-9]+$/.test(String(q[k]))) throw badRequest(`Invalid input for query parameters ${k}. Value: ${q[k]}. '${q[k]}' does not match '^[0-9]*$'`);
      return Number(q[k]);
    };
    const limit = num('limit'), offset = num('offset') ?? 0;
    let all = (await bdmsOf(ctx.db, inst.uuid)).filter((b) => b.destinationType === 'volume' && b.volumeId);
    all = all.slice(offset, limit === undefined ? undefined : offset + limit);
    return { volumeAttachments: all.map((b) => view(req, b)) };
  });

  app.get<{ Params: { server_id: string; volume_id: string } }>(`${base}/:volume_id`, async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-volumes-attachments:show', req.auth!, project(inst));
    const b = await findAttachment(ctx, inst, req.params.volume_id);
    if (!b) throw notFound(`Instance ${inst.uuid} is not attached to volume ${req.params.volume_id}.`);
    return { volumeAttachment: view(req, b) };
  });

  app.post<{ Params: { server_id: string } }>(base, async (req) => {
    validateBody(attachSchema(req), req.body);
    const a = (req.body as any).volumeAttachment;
    const volumeId: string = String(a.volumeId).toLowerCase();
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-volumes-attachments:create', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'attach_volume', { vm: attachStates(req) });
    const api = ctx.services.volume;
    const volume = api ? await api.get(volumeId) : null;
    if (!volume || (volume.projectId !== inst.projectId && !isAdmin(ctx, req))) throw notFound(`Volume ${volumeId} could not be found.`);
    if (volume.multiattach && mv(req).below('2.60')) {
      throw badRequest('Multiattach volumes are only supported starting with compute API version 2.60.');
    }
    const deleteOnTermination = a.delete_on_termination !== undefined ? parseBoolean(a.delete_on_termination, 'delete_on_termination') : false;
    const { bdmId } = await ctx.db.tx(async (t) => {
      // One attach at a time per server: device names and the duplicate check are decided here.
      await t.lock(`compute:bdm:${inst.uuid}`);
      const cur = await getInstance(t, inst.uuid);
      if (!cur || cur.deleted) throw notFound(`Instance ${inst.uuid} could not be found.`);
      checkState(cur, 'attach_volume', { vm: attachStates(req) });
      const bdms = await bdmsOf(t, inst.uuid);
      if (bdms.some((b) => b.volumeId === volumeId)) throw badRequest(`Invalid volume: volume ${volumeId} already attached`);
      let device: string;
      if (a.device) {
        if (bdms.some((b) => b.deviceName === a.device) || a.device === '/dev/sda') throw badRequest(`The supplied device path (${a.device}) is in use.`);
        device = a.device;
      } else {
        device = nextDeviceName(cur, bdms.map((b) => b.deviceName), isVolumeBacked(bdms));
      }
      const id = await insertBdm(t, {
        instanceUuid: inst.uuid, sourceType: 'volume', destinationType: 'volume', imageId: null, snapshotId: null, volumeId,
        volumeSize: volume.sizeGb, volumeType: null, deviceName: device, bootIndex: null, deleteOnTermination,
        tag: a.tag ?? null, status: 'reserved',
      });
      const actionId = await recordAction(t, { uuid: inst.uuid, action: 'attach_volume', requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
      const payload: VolumePayload = { uuid: inst.uuid, op: 'attach', bdmId: id, actionId };
      await ctx.tasks.enqueue(t, VOLUME, payload, { resourceId: inst.uuid });
      await updateInstance(t, inst.uuid, {});
      return { bdmId: id };
    });
    // The reservation: Cinder refuses a volume that is not available (or attached elsewhere).
    try {
      // Cinder checks the volume against the request's scope: an admin may attach any project's.
      const attachmentId = await api!.attachmentCreate(isAdmin(ctx, req) ? null : (req.auth!.projectId ?? ''), volumeId, inst.uuid);
      await ctx.db.run(`UPDATE block_device_mappings SET attachment_id = ? WHERE id = ? AND attachment_id IS NULL`, [attachmentId, bdmId]);
    } catch (e) {
      const b = await getBdm(ctx.db, bdmId);
      if (b && b.status !== 'attached') await ctx.db.run('DELETE FROM block_device_mappings WHERE id = ?', [bdmId]);
      if (e instanceof ApiError && e.status === 404) throw notFound(`Volume ${volumeId} could not be found.`);
      if (e instanceof ApiError && e.status < 500) throw badRequest(e.message.startsWith('Invalid volume') ? e.message : `Invalid volume: ${e.message}`);
      throw e;
    }
    const b = (await getBdm(ctx.db, bdmId));
    return { volumeAttachment: view(req, b ?? { id: bdmId, instanceUuid: inst.uuid, volumeId, deviceName: null, tag: a.tag ?? null, deleteOnTermination } as Bdm) };
  });

  app.put<{ Params: { server_id: string; volume_id: string } }>(`${base}/:volume_id`, async (req) => {
    validateBody(updateSchema, req.body);
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-volumes-attachments:update', req.auth!, project(inst));
    ctx.policy.authorize('os_compute_api:os-volumes-attachments:swap', req.auth!, project(inst));
    const b = await findAttachment(ctx, inst, req.params.volume_id);
    if (!b) throw notFound(`Instance ${inst.uuid} is not attached to volume ${req.params.volume_id}.`);
    // Swapping moves the data between VMDKs while the guest runs: the vCenter driver cannot.
    throw conflict('Swapping volumes is not supported by the compute driver of this cloud.');
  });

  app.delete<{ Params: { server_id: string; volume_id: string } }>(`${base}/:volume_id`, async (req, reply: FastifyReply) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-volumes-attachments:delete', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'detach_volume', { vm: attachStates(req) });
    const volumeId = req.params.volume_id;
    const b = await findAttachment(ctx, inst, volumeId);
    if (!b) throw notFound(`Volume ${volumeId} is not attached to the instance ${inst.uuid}`);
    if (b.bootIndex === 0) throw badRequest('Cannot detach a root device volume');
    if (b.status === 'detaching') return reply.code(202).send();
    if (b.status !== 'attached') {
      throw badRequest(`Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.`);
    }
    await ctx.db.tx(async (t) => {
      await t.lock(`compute:bdm:${inst.uuid}`);
      const cur = await getBdm(t, b.id);
      if (!cur || cur.status !== 'attached') return;
      await updateBdm(t, b.id, { status: 'detaching' });
      const actionId = await recordAction(t, { uuid: inst.uuid, action: 'detach_volume', requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
      const payload: VolumePayload = { uuid: inst.uuid, op: 'detach', bdmId: b.id, actionId };
      await ctx.tasks.enqueue(t, VOLUME, payload, { resourceId: inst.uuid });
    });
    return reply.code(202).send();
  });
}
