// POST /volumes/{id}/action: Cinder's volume actions (os-extend, os-set_bootable,
// os-update_readonly_flag, the legacy attach flow os-reserve/os-attach/os-begin_detaching/
// os-detach ..., os-initialize_connection, os-volume_upload_image, image metadata, os-retype) and
// the admin ones (os-reset_status, os-force_delete). Bodies are checked before anything is written.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { TaskRecord } from '../core/tasks.ts';
import { fromJson } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import { enforceVolumeQuota } from './quotas.ts';
import { resolveVolumeType, volumeSpecFromType } from './types.ts';
import { cinderTime } from './db.ts';
import { sparseVmdkToRaw } from './image_convert.ts';
import { invalidInput, optionalString, validateInteger, validateMetadata } from './common.ts';
import { atLeast } from './microversion.ts';
import { ACTIONS, DETAILS, recordMessage } from './messages.ts';
import { satisfiesExtraSpecs } from './capabilities.ts';
import {
  TASK_EXTEND, VolumeError, beginDelete, findVolume, getVolume, parseBoolStrict, updateVolume, volumeTarget, wrap, type VolumeRow,
} from './volumes.ts';
import {
  initializeConnection, invalidVolume, legacyAttach, legacyBeginDetaching, legacyDetach, legacyReserve, legacyRollDetaching,
  legacyUnreserve, lockVolume, lockFoundVolume, forceDetach,
} from './attachments.ts';

export const TASK_UPLOAD = 'cinder.volume.upload_image';

/** Cinder's volume statuses an admin may reset to. */
const VALID_STATUSES = ['creating', 'available', 'deleting', 'error', 'error_deleting', 'error_managing', 'managing', 'attaching',
  'in-use', 'detaching', 'maintenance', 'restoring-backup', 'error_restoring', 'reserved', 'awaiting-transfer', 'backing-up',
  'error_backing-up', 'error_extending', 'downloading', 'uploading', 'retyping', 'extending'];
const DISK_FORMATS = ['raw', 'vmdk', 'vdi', 'qcow2', 'vhd', 'vhdx', 'ploop'];
const UPLOAD_FORMATS = ['vmdk', 'raw'];
const CONTAINER_FORMATS = ['bare', 'ovf', 'ova', 'aki', 'ari', 'ami', 'docker', 'compressed'];

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

function need<T>(b: Record<string, any>, k: string, action: string): T {
  if (!(k in b)) throw badRequest(`Invalid input for field/attribute ${action}. '${k}' is a required property`);
  return b[k] as T;
}

function onlyKeys(b: Record<string, any>, keys: string[]) {
  for (const k of Object.keys(b)) if (!keys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
}

/** The body of one action: an object (null/absent allowed for the actions that take nothing). */
function args(raw: unknown, action: string, nullable = false): Record<string, any> {
  if ((raw === null || raw === undefined) && nullable) return {};
  if (!isObj(raw)) throw badRequest(`Invalid input for field/attribute ${action}. Value: ${JSON.stringify(raw)}. ${JSON.stringify(raw)} is not of type 'object'`);
  return raw;
}

type Handler = (ctx: Context, req: FastifyRequest, reply: FastifyReply, v: VolumeRow, a: unknown) => Promise<unknown>;

const accepted = (reply: FastifyReply) => { reply.code(202); return reply.send(); };

const HANDLERS: Record<string, Handler> = {
  async 'os-extend'(ctx, req, reply, v0, raw) {
    const a = args(raw, 'os-extend');
    onlyKeys(a, ['new_size']);
    const newSize = validateInteger(need(a, 'new_size', 'os-extend'), 'new_size', 1);
    ctx.policy.authorize('volume:extend', req.auth!, volumeTarget(v0));
    await ctx.db.tx(async (t) => {
      const v = await lockFoundVolume(t, v0.id);
      // Extending an attached volume needs microversion 3.42, above this API's maximum.
      if (v.status !== 'available') throw invalidVolume(`Volume ${v.id} status must be 'available' to extend, currently ${v.status}.`);
      if (newSize <= v.size) throw invalidInput(`New size for extend must be greater than current size. (current: ${v.size}, extended: ${newSize}).`);
      await enforceVolumeQuota(t, v.project_id, { gigabytes: newSize - v.size, volumeType: v.volume_type_name ?? undefined });
      await updateVolume(t, v.id, { status: 'extending', previous_status: v.status });
      await ctx.tasks.enqueue(t, TASK_EXTEND, { volumeId: v.id, newSize, requestId: req.id }, { resourceId: v.id });
    });
    return accepted(reply);
  },

  async 'os-set_bootable'(ctx, req, _reply, v, raw) {
    const a = args(raw, 'os-set_bootable');
    onlyKeys(a, ['bootable']);
    const bootable = parseBoolStrict(need(a, 'bootable', 'os-set_bootable'), 'bootable');
    ctx.policy.authorize('volume:update', req.auth!, volumeTarget(v));
    await updateVolume(ctx.db, v.id, { bootable: bootable ? 1 : 0 });
    return _reply.code(200).send();
  },

  async 'os-update_readonly_flag'(ctx, req, reply, v, raw) {
    const a = args(raw, 'os-update_readonly_flag');
    onlyKeys(a, ['readonly']);
    const readonly = parseBoolStrict(need(a, 'readonly', 'os-update_readonly_flag'), 'readonly');
    ctx.policy.authorize('volume:update_readonly_flag', req.auth!, volumeTarget(v));
    if (v.status !== 'available') throw invalidVolume(`Volume ${v.id} status must be 'available' to update the readonly flag, currently ${v.status}.`);
    await updateVolume(ctx.db, v.id, { readonly: readonly ? 1 : 0 });
    return accepted(reply);
  },

  async 'os-reserve'(ctx, req, reply, v) {
    ctx.policy.authorize('volume_extension:volume_actions:reserve', req.auth!, volumeTarget(v));
    await legacyReserve(ctx, v);
    return accepted(reply);
  },
  async 'os-unreserve'(ctx, req, reply, v) {
    ctx.policy.authorize('volume_extension:volume_actions:unreserve', req.auth!, volumeTarget(v));
    await legacyUnreserve(ctx, v);
    return accepted(reply);
  },
  async 'os-begin_detaching'(ctx, req, reply, v) {
    ctx.policy.authorize('volume_extension:volume_actions:begin_detaching', req.auth!, volumeTarget(v));
    await legacyBeginDetaching(ctx, v);
    return accepted(reply);
  },
  async 'os-roll_detaching'(ctx, req, reply, v) {
    ctx.policy.authorize('volume_extension:volume_actions:roll_detaching', req.auth!, volumeTarget(v));
    await legacyRollDetaching(ctx, v);
    return accepted(reply);
  },

  async 'os-attach'(ctx, req, reply, v, raw) {
    const a = args(raw, 'os-attach');
    onlyKeys(a, ['instance_uuid', 'host_name', 'mountpoint', 'mode']);
    const instance = optionalString(a.instance_uuid, 'instance_uuid') ?? null;
    const host = optionalString(a.host_name, 'host_name') ?? null;
    const mountpoint = optionalString(need(a, 'mountpoint', 'os-attach'), 'mountpoint');
    if (!mountpoint) throw badRequest('Invalid input for field/attribute mountpoint. Value: None. None is not of type \'string\'');
    if (!instance && !host) throw badRequest('Invalid request to attach volume to an invalid target');
    if (instance && !isUuid(instance)) throw badRequest(`Invalid input for field/attribute instance_uuid. Value: ${instance}. '${instance}' is not a 'uuid'`);
    const mode = a.mode ?? 'rw';
    if (mode !== 'rw' && mode !== 'ro') throw badRequest("Invalid request to attach volume with an invalid mode. Attaching mode should be 'rw' or 'ro'");
    ctx.policy.authorize('volume_extension:volume_actions:attach', req.auth!, volumeTarget(v));
    if (v.readonly && mode === 'rw') throw badRequest(`Invalid volume: Volume ${v.id} is read-only: it cannot be attached in rw mode.`);
    await legacyAttach(ctx, v, { instanceId: instance, hostName: host, mountpoint, mode });
    return accepted(reply);
  },
  async 'os-detach'(ctx, req, reply, v, raw) {
    const a = args(raw, 'os-detach', true);
    onlyKeys(a, ['attachment_id']);
    const attachmentId = optionalString(a.attachment_id, 'attachment_id') ?? null;
    ctx.policy.authorize('volume_extension:volume_actions:detach', req.auth!, volumeTarget(v));
    await legacyDetach(ctx, v, attachmentId);
    return accepted(reply);
  },

  async 'os-initialize_connection'(ctx, req, _reply, v, raw) {
    const a = args(raw, 'os-initialize_connection');
    onlyKeys(a, ['connector']);
    const connector = need<unknown>(a, 'connector', 'os-initialize_connection');
    if (!isObj(connector)) throw badRequest("Invalid input for field/attribute connector. Value must be an object.");
    ctx.policy.authorize('volume_extension:volume_actions:initialize_connection', req.auth!, volumeTarget(v));
    if (!['available', 'attaching', 'reserved', 'in-use', 'detaching', 'downloading'].includes(v.status)) {
      throw invalidVolume(`Volume ${v.id} status must be available or attaching to initialize a connection, currently ${v.status}.`);
    }
    const info = await initializeConnection(ctx, v.id, typeof connector.host === 'string' ? connector.host : '');
    return {
      connection_info: {
        driver_volume_type: 'vmdk',
        data: {
          volume: info.path, volume_id: v.id, name: `volume-${v.id}`, datastore: info.datastore, path: info.path,
          size: info.sizeGb, access_mode: v.readonly ? 'ro' : 'rw', encrypted: false,
        },
      },
    };
  },
  async 'os-terminate_connection'(ctx, req, reply, v, raw) {
    const a = args(raw, 'os-terminate_connection');
    onlyKeys(a, ['connector']);
    const connector = need<unknown>(a, 'connector', 'os-terminate_connection');
    if (!isObj(connector)) throw badRequest("Invalid input for field/attribute connector. Value must be an object.");
    ctx.policy.authorize('volume_extension:volume_actions:terminate_connection', req.auth!, volumeTarget(v));
    // The VMDK stays where it is: nothing to undo on the backend.
    return accepted(reply);
  },

  async 'os-volume_upload_image'(ctx, req, reply, v0, raw) {
    const a = args(raw, 'os-volume_upload_image');
    // visibility and protected came with 3.1; before it they are unknown properties.
    const v31 = atLeast(req, '3.1');
    onlyKeys(a, ['image_name', 'force', 'disk_format', 'container_format', ...(v31 ? ['visibility', 'protected'] : [])]);
    const name = optionalString(need(a, 'image_name', 'os-volume_upload_image'), 'image_name');
    if (!name) throw badRequest('Invalid input for field/attribute image_name. Value: None. None is not of type \'string\'');
    const force = a.force === undefined ? false : parseBoolStrict(a.force, 'force');
    const diskFormat = a.disk_format ?? 'raw';
    if (!DISK_FORMATS.includes(diskFormat)) throw invalidInput(`Invalid disk-format '${diskFormat}' is specified. Allowed disk-formats are ${DISK_FORMATS.join(', ')}.`);
    // The VMDK driver exports VMDKs; raw is converted from them. Other formats need qemu-img.
    if (!UPLOAD_FORMATS.includes(diskFormat)) throw badRequest(`Image disk format ${diskFormat} is not supported by the VMDK volume driver: use ${UPLOAD_FORMATS.join(' or ')}.`);
    const containerFormat = a.container_format ?? 'bare';
    if (!CONTAINER_FORMATS.includes(containerFormat)) throw invalidInput(`Invalid container-format '${containerFormat}' is specified.`);
    // Before 3.1 Glance's default visibility applies (Cinder sends none): private, as at 3.1.
    const visibility = a.visibility ?? 'private';
    if (!['public', 'private', 'shared', 'community'].includes(visibility)) {
      throw badRequest(`Invalid input for field/attribute visibility. Value: ${visibility}. '${visibility}' is not one of ['community', 'public', 'private', 'shared']`);
    }
    const isProtected = a.protected !== undefined ? parseBoolStrict(a.protected, 'protected') : false;
    ctx.policy.authorize('volume_extension:volume_actions:upload_image', req.auth!, volumeTarget(v0));
    if (v31 && visibility === 'public') ctx.policy.authorize('volume_extension:volume_actions:upload_public', req.auth!, volumeTarget(v0));
    const okStatus = (s: string) => s === 'available' || (force && s === 'in-use');
    if (!okStatus(v0.status)) {
      throw invalidVolume(v0.status === 'in-use' ? `Volume status is in-use.` : `Volume ${v0.id} status must be available or in-use, but current status is: ${v0.status}.`);
    }
    const images = ctx.services.image;
    if (!images) throw new ApiError(503, 'The image service is not available.');
    const image = await images.create(req.auth!, {
      name, visibility, diskFormat, containerFormat, minDisk: v0.size, ...(v31 ? { protected: isProtected } : {}),
      properties: { ...Object.fromEntries(Object.entries(v0.image_metadata).filter(([k]) => !['image_id', 'image_name', 'checksum', 'size', 'min_disk', 'min_ram', 'disk_format', 'container_format'].includes(k))) },
    });
    let v: VolumeRow;
    try {
      v = await ctx.db.tx(async (t) => {
        const cur = await lockFoundVolume(t, v0.id);
        if (!okStatus(cur.status)) throw invalidVolume(`Volume ${cur.id} status must be available or in-use, but current status is: ${cur.status}.`);
        await updateVolume(t, cur.id, { status: 'uploading', previous_status: cur.status });
        await ctx.tasks.enqueue(t, TASK_UPLOAD, { volumeId: cur.id, imageId: image.id, diskFormat, containerFormat, requestId: req.id }, { resourceId: cur.id });
        return (await getVolume(t, cur.id))!;
      });
    } catch (e) {
      await images.delete(image.id).catch(() => {});
      throw e;
    }
    reply.code(202);
    return {
      'os-volume_upload_image': {
        id: v.id, updated_at: cinderTime(v.updated_at), status: 'uploading', display_description: v.description, size: v.size,
        volume_type: v.volume_type_name ? { name: v.volume_type_name, id: v.volume_type_id } : null, image_id: image.id,
        container_format: containerFormat, disk_format: diskFormat, image_name: name,
        // Glance's answer's protected and visibility, as Cinder copies them.
        protected: image.protected, visibility: image.visibility,
      },
    };
  },

  async 'os-set_image_metadata'(ctx, req, _reply, v, raw) {
    const a = args(raw, 'os-set_image_metadata');
    onlyKeys(a, ['metadata']);
    const m = validateMetadata(need(a, 'metadata', 'os-set_image_metadata'));
    ctx.policy.authorize('volume_extension:volume_image_metadata:set', req.auth!, volumeTarget(v));
    const next = await ctx.db.tx(async (t) => {
      const cur = await lockFoundVolume(t, v.id);
      const merged = { ...cur.image_metadata, ...m };
      await updateVolume(t, v.id, { image_metadata: merged });
      return merged;
    });
    return { metadata: next };
  },
  async 'os-unset_image_metadata'(ctx, req, _reply, v, raw) {
    const a = args(raw, 'os-unset_image_metadata');
    onlyKeys(a, ['key']);
    const key = need<unknown>(a, 'key', 'os-unset_image_metadata');
    if (typeof key !== 'string' || !key.length || key.length > 255) throw badRequest('Invalid input for field/attribute key. Value must be a string of 1 to 255 characters.');
    ctx.policy.authorize('volume_extension:volume_image_metadata:remove', req.auth!, volumeTarget(v));
    await ctx.db.tx(async (t) => {
      const cur = await lockFoundVolume(t, v.id);
      if (!(key in cur.image_metadata)) throw new ApiError(404, `Glance metadata for volume ${v.id} with key ${key} could not be found.`);
      const next = { ...cur.image_metadata };
      delete next[key];
      await updateVolume(t, v.id, { image_metadata: next });
    });
    return _reply.code(200).send();
  },
  async 'os-show_image_metadata'(ctx, req, _reply, v) {
    ctx.policy.authorize('volume_extension:volume_image_metadata:show', req.auth!, volumeTarget(v));
    return { metadata: v.image_metadata };
  },

  async 'os-retype'(ctx, req, reply, v0, raw) {
    const a = args(raw, 'os-retype');
    onlyKeys(a, ['new_type', 'migration_policy']);
    const ref = need<unknown>(a, 'new_type', 'os-retype');
    if (typeof ref !== 'string' || !ref) throw badRequest('Invalid input for field/attribute new_type. Value must be a non-empty string.');
    const policy = a.migration_policy ?? 'never';
    if (policy !== 'never' && policy !== 'on-demand') throw invalidInput(`Migration policy must be 'never' or 'on-demand', got ${policy}.`);
    ctx.policy.authorize('volume:retype', req.auth!, volumeTarget(v0));
    await ctx.db.tx(async (t) => {
      const v = await lockFoundVolume(t, v0.id);
      if (v.status !== 'available' && v.status !== 'in-use') throw invalidVolume(`Volume ${v.id} status must be available or in-use, but current status is: ${v.status}.`);
      const next = await resolveVolumeType(t, req.auth!, ref);
      if (next.id === v.volume_type_id) throw invalidInput('Retype cannot change the volume type to its current one.');
      const curSpecs = fromJson((await t.get('SELECT extra_specs FROM cinder_volume_types WHERE id = ?', [v.volume_type_id]))?.extra_specs, {});
      // The scheduler finds no backend for a type asking for what this one has not: as Cinder,
      // the retype does not happen (its failure is asynchronous there, the 202 stands).
      if (!satisfiesExtraSpecs(await ctx.volumeDriver.pools(), next.extraSpecs)) return;
      const a1 = volumeSpecFromType(curSpecs), b1 = volumeSpecFromType(next.extraSpecs);
      // The backing is not converted in place: a type that would change the VMDK needs a migration.
      if (a1.vmdkType !== b1.vmdkType || a1.adapterType !== b1.adapterType || a1.storageProfile !== b1.storageProfile) {
        throw badRequest(`Invalid volume: Retyping volume ${v.id} to ${next.name} needs a migration of its VMDK, which this cloud does not do.`);
      }
      await updateVolume(t, v.id, { volume_type_id: next.id });
    });
    return accepted(reply);
  },

  // os-unmanage (admin): as a delete, but the VMDK is left on the datastore for a later manage.
  async 'os-unmanage'(ctx, req, reply, v0, raw) {
    if (raw !== null && raw !== undefined && !isObj(raw)) throw badRequest(`Invalid input for field/attribute os-unmanage. Value: ${JSON.stringify(raw)}. ${JSON.stringify(raw)} is not of type 'object', 'null'`);
    ctx.policy.authorize('volume_extension:volume_unmanage', req.auth!, volumeTarget(v0));
    await ctx.db.tx(async (t) => {
      const v = await lockFoundVolume(t, v0.id);
      await beginDelete(ctx, t, v, { unmanage: true });
    });
    return accepted(reply);
  },

  async 'os-reset_status'(ctx, req, reply, v, raw) {
    const a = args(raw, 'os-reset_status');
    onlyKeys(a, ['status', 'attach_status', 'migration_status']);
    ctx.policy.authorize('volume_extension:volume_admin_actions:reset_status', req.auth!, volumeTarget(v));
    const set: Record<string, unknown> = {};
    if (a.status !== undefined) {
      const s = String(a.status).toLowerCase();
      if (!VALID_STATUSES.includes(s)) throw invalidInput(`Must specify a valid status`);
      set.status = s;
    }
    if (a.attach_status !== undefined) {
      const s = String(a.attach_status).toLowerCase();
      if (s !== 'attached' && s !== 'detached') throw invalidInput('Must specify a valid attach status');
      set.attach_status = s;
    }
    if (a.migration_status !== undefined && !['none', 'migrating', 'error', 'success', 'completing', 'starting'].includes(String(a.migration_status).toLowerCase())) {
      throw invalidInput('Must specify a valid migration status');
    }
    if (!Object.keys(set).length && a.migration_status === undefined) throw badRequest('Must specify \'status\', \'attach_status\' or \'migration_status\' for update.');
    if (Object.keys(set).length) {
      await ctx.db.tx(async (t) => {
        await lockVolume(t, v.id);
        await updateVolume(t, v.id, set);
        if (set.attach_status === 'detached') await t.run('DELETE FROM cinder_attachments WHERE volume_id = ?', [v.id]);
      });
    }
    return accepted(reply);
  },
  async 'os-force_detach'(ctx, req, reply, v, raw) {
    const a = args(raw, 'os-force_detach', true);
    onlyKeys(a, ['attachment_id', 'connector']);
    const attachmentId = optionalString(a.attachment_id, 'attachment_id') ?? null;
    if (a.connector !== undefined && a.connector !== null && !isObj(a.connector)) throw badRequest('Invalid input for field/attribute connector. Value must be an object.');
    ctx.policy.authorize('volume_extension:volume_admin_actions:force_detach', req.auth!, volumeTarget(v));
    await forceDetach(ctx, v, attachmentId);
    return accepted(reply);
  },
  async 'os-force_delete'(ctx, req, reply, v0) {
    ctx.policy.authorize('volume_extension:volume_admin_actions:force_delete', req.auth!, volumeTarget(v0));
    await ctx.db.tx(async (t) => {
      const v = await lockFoundVolume(t, v0.id);
      await beginDelete(ctx, t, v, { force: true, cascade: true });
    });
    return accepted(reply);
  },
};

async function runUpload(ctx: Context, task: TaskRecord) {
  const { volumeId, imageId, diskFormat, containerFormat } = task.payload;
  const v = await getVolume(ctx.db, volumeId);
  if (!v || v.status !== 'uploading') return;
  const images = ctx.services.image;
  if (!images) throw new VolumeError('The image service is not available.');
  const img = await images.get(imageId, null);
  if (!img) throw new VolumeError(`Image ${imageId} could not be found.`);
  if (img.status !== 'active') {
    if (!v.location) throw new VolumeError(`Volume ${v.id} has no backing.`);
    const exported = await ctx.volumeDriver.openVolume(v.location, v.size);
    let stream = exported.stream;
    if (diskFormat === 'raw' && exported.diskFormat === 'vmdk') stream = (await sparseVmdkToRaw(stream)).stream;
    else if (diskFormat !== exported.diskFormat) throw new VolumeError(`The driver exports ${exported.diskFormat}, not ${diskFormat}.`);
    await images.upload(imageId, stream, { diskFormat, containerFormat });
  }
  await updateVolume(ctx.db, v.id, { status: v.previous_status ?? 'available', previous_status: 'uploading' }, "status = 'uploading'");
}

export function registerActionTasks(ctx: Context) {
  ctx.tasks.register(TASK_UPLOAD, {
    run: wrap(runUpload, ctx),
    async onFailure(task) {
      const v = await getVolume(ctx.db, task.payload.volumeId);
      if (v && v.status === 'uploading') {
        await ctx.db.tx(async (t) => {
          const changed = await updateVolume(t, v.id, { status: v.previous_status ?? 'available', previous_status: 'uploading' }, "status = 'uploading'");
          if (changed) {
            await recordMessage(t, {
              projectId: v.project_id, resourceType: 'VOLUME', resourceId: v.id, action: ACTIONS.COPY_VOLUME_TO_IMAGE,
              detail: DETAILS.FAILED_TO_UPLOAD_VOLUME, requestId: task.payload.requestId,
            });
          }
        });
      }
      await ctx.services.image?.delete(task.payload.imageId).catch(() => {});
    },
  });
}

export async function actionRoutes(app: FastifyInstance, ctx: Context) {
  app.post<{ Params: { id: string } }>('/volumes/:id/action', async (req, reply) => {
    const body = req.body;
    if (!isObj(body) || Object.keys(body).length !== 1) throw badRequest('There is no such action: None');
    const [name] = Object.keys(body);
    const handler = HANDLERS[name];
    if (!handler) throw badRequest(`There is no such action: ${name}`);
    const v = await findVolume(ctx, req, req.params.id);
    return handler(ctx, req, reply, v, body[name]);
  });
}

