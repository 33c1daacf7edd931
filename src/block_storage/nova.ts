// The in-process VolumeApi (api.ts) that Nova's attach, boot-from-volume and os-volumes proxy
// flows use: the same records, checks and tasks as the HTTP API, without HTTP.
import type { Context } from '../core/service.ts';
import type { VolumeApi, VolumeInfo } from './api.ts';
import { ApiError } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import { completeAttachment, deleteAttachment, lockVolume, reserveAttachment, updateAttachment } from './attachments.ts';
import { attachmentsOf, beginDelete, createVolume, getVolume, projectAuth, toVolume, type AttachmentRow, type VolumeRow } from './volumes.ts';
import { createSnapshotFor, deleteSnapshotById, getSnapshotInfo, listSnapshotInfos } from './snapshots.ts';

function info(v: VolumeRow, atts: AttachmentRow[]): VolumeInfo {
  return {
    id: v.id, projectId: v.project_id, name: v.name, status: v.status, sizeGb: v.size, availabilityZone: v.availability_zone,
    bootable: v.bootable, multiattach: v.multiattach, volumeType: v.volume_type_name,
    attachments: atts.map((a) => ({ attachmentId: a.id, instanceId: a.instance_id ?? '', device: a.mountpoint, attachedAt: a.attached_at })),
    location: v.location, createdAt: v.created_at, description: v.description, metadata: v.metadata, snapshotId: v.snapshot_id,
  };
}

export function createVolumeApi(ctx: Context): VolumeApi {
  return {
    async get(volumeId) {
      const v = await getVolume(ctx.db, volumeId);
      if (!v) return null;
      return info(v, (await attachmentsOf(ctx.db, [v.id])).get(v.id) ?? []);
    },
    attachmentCreate: (projectId, volumeId, instanceId) => reserveAttachment(ctx, { volumeId, instanceId, projectId }),
    attachmentUpdate: (attachmentId, connector) => updateAttachment(ctx, attachmentId, connector),
    attachmentComplete: (attachmentId) => completeAttachment(ctx, attachmentId),
    attachmentDelete: (attachmentId) => deleteAttachment(ctx, attachmentId),
    async create(req) {
      if (req.id && !isUuid(req.id)) throw new ApiError(400, `Invalid volume id ${req.id}.`);
      return createVolume(ctx, projectAuth(req.projectId, req.userId), {
        id: req.id, projectId: req.projectId, userId: req.userId, size: req.sizeGb > 0 ? req.sizeGb : null,
        name: req.name ?? null, description: req.description ?? null, volumeType: req.volumeType ?? null,
        availabilityZone: req.availabilityZone ?? null, metadata: req.metadata ?? {}, snapshotId: req.snapshotId ?? null,
        sourceVolid: req.sourceVolumeId ?? null, imageId: req.imageId ?? null, multiattach: false,
      }, { imageVisibleTo: null });
    },
    async delete(volumeId) {
      await ctx.db.tx(async (t) => {
        const v = await lockVolume(t, volumeId);
        if (!v) return;
        await beginDelete(ctx, t, v, { internal: true });
      });
    },
    async list(projectId) {
      const rows = projectId === null
        ? await ctx.db.all(`SELECT v.*, vt.name AS volume_type_name FROM cinder_volumes v LEFT JOIN cinder_volume_types vt ON vt.id = v.volume_type_id ORDER BY v.created_at DESC, v.id DESC`)
        : await ctx.db.all(`SELECT v.*, vt.name AS volume_type_name FROM cinder_volumes v LEFT JOIN cinder_volume_types vt ON vt.id = v.volume_type_id WHERE v.project_id = ? ORDER BY v.created_at DESC, v.id DESC`, [projectId]);
      const vols = rows.map(toVolume);
      const atts = await attachmentsOf(ctx.db, vols.map((v) => v.id));
      return vols.map((v) => info(v, atts.get(v.id) ?? []));
    },
    createSnapshot: (req) => createSnapshotFor(ctx, {
      projectId: req.projectId, userId: req.userId, volumeId: req.volumeId, name: req.name ?? null,
      description: req.description ?? null, force: req.force ?? false, metadata: {},
    }),
    getSnapshot: (id) => getSnapshotInfo(ctx, id),
    listSnapshots: (projectId) => listSnapshotInfos(ctx, projectId),
    deleteSnapshot: (id) => deleteSnapshotById(ctx, id),
  };
}
