// POST /servers/{id}/action: each action validates its body (Nova's schema), finds the server
// (404), checks policy (403), the lock and the vm_state/task_state Nova's compute API accepts
// (409 "Cannot '<action>' instance ... while it is in vm_state ..."), then in ONE transaction sets
// the task_state (compare-and-set against the state it checked), records the instance action and
// enqueues the durable task that converges the VM. Synchronous ones (lock, console output, reset
// state) answer at once.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { ApiError, badRequest, conflict, notFound, notImplemented } from '../../core/errors.ts';
import { InstanceNotFound } from '../../core/virt.ts';
import { mv } from '../microversion.ts';
import { isAdmin, parseBoolean } from '../common.ts';
import { flavorAccessibleBy, flavorToSpec, getFlavor } from '../flavors.ts';
import { getKeypair } from '../keypairs.ts';
import { enforceInjectedFilesQuota, enforceMetadataQuota, enforceResizeQuota } from '../quotas.ts';
import { listNodes } from '../hypervisors.ts';
import { recordMigration } from '../migrations.ts';
import { getInstance, setMetadata, updateInstance, VM, type Instance, type InstanceFlavor } from './db.ts';
import { canonicalIpv4, canonicalIpv6, checkHost, checkLock, checkState, findServer, invalidState } from './common.ts';
import { finishEvent, recordAction, recordInstantEvent, startEvent } from './instance_actions.ts';
import * as S from './schemas.ts';
import { validateBody } from './validate.ts';
import { ACTION, flavorColumns } from './tasks.ts';
import { generatePassword } from './create.ts';
import { deleteServer, showBody } from './routes.ts';
import { serversConfig } from './config.ts';
import { bdmsOf, isVolumeBacked } from './bdm.ts';

type Req = FastifyRequest<{ Params: { id: string } }>;
type Handler = (ctx: Context, req: Req, reply: FastifyReply, body: any) => Promise<unknown>;

/** Moving a VM to another cluster needs a relocation the virt driver does not offer (yet). */
const MOVE_UNSUPPORTED = 'No valid host was found. Moving instances between compute nodes is not supported by the vCenter driver of this cloud.';

const ALLOW_REBOOT_TASKS = [null, 'rebooting', 'reboot_pending', 'reboot_started', 'resuming', 'rebooting_hard', 'unpausing', 'pausing', 'suspending'];

interface StartOptions {
  /** Nova's instance action name ("reboot", "createImage" ...). */
  action: string;
  /** The name in the 409 message (the API action). */
  apiAction: string;
  op: string;
  vm?: string[] | null;
  task?: (string | null)[] | null;
  mustHaveLaunched?: boolean;
  taskState: string;
  fields?: Record<string, unknown>;
  payload?: Record<string, unknown>;
  /** Extra writes in the same transaction; what it returns is added to the task payload. */
  also?: (t: import('../../core/db/index.ts').Tx, cur: Instance) => Promise<Record<string, unknown> | void>;
}

/**
 * The common tail of an asynchronous action: re-checks the state inside the transaction, then
 * writes task_state (only if the row still has the state just checked), the instance action and
 * the task.
 */
async function startAction(ctx: Context, req: Req, inst: Instance, o: StartOptions) {
  await ctx.db.tx(async (t) => {
    const cur = await getInstance(t, inst.uuid);
    if (!cur || cur.deleted) throw notFound(`Instance ${inst.uuid} could not be found.`);
    checkState(cur, o.apiAction, { vm: o.vm, task: o.task, mustHaveLaunched: o.mustHaveLaunched });
    const ok = await updateInstance(t, cur.uuid, { ...(o.fields ?? {}), task_state: o.taskState }, { expectTask: [cur.taskState], expectVm: [cur.vmState] });
    if (!ok) throw invalidState(o.apiAction, cur.uuid, 'task_state', cur.taskState);
    const extra = o.also ? await o.also(t, cur) : undefined;
    const actionId = await recordAction(t, { uuid: cur.uuid, action: o.action, requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
    await ctx.tasks.enqueue(t, ACTION, { uuid: cur.uuid, op: o.op, actionId, expect: o.taskState, ...(o.payload ?? {}), ...(extra ?? {}) }, { resourceId: cur.uuid });
  });
}

const owner = (i: Instance) => ({ user_id: i.userId, project_id: i.projectId });
const project = (i: Instance) => ({ project_id: i.projectId });

/** A simple power-style action: one vm_state in, one task_state. */
function simple(apiAction: string, op: string, rule: string, vm: string[], taskState: string, opts: { host?: boolean; target?: 'owner' | 'project'; action?: string } = {}): Handler {
  return async (ctx, req, reply, body) => {
    validateBody(S.anyBody(apiAction), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize(rule, req.auth!, opts.target === 'project' ? project(inst) : owner(inst));
    checkLock(ctx, req, inst);
    if (opts.host) checkHost(inst);
    await startAction(ctx, req, inst, { action: opts.action ?? op, apiAction, op, vm, taskState });
    return reply.code(202).send();
  };
}

/** Image properties a snapshot inherits from the instance (Nova's _initialize_instance_snapshot_metadata). */
function snapshotProperties(inst: Instance, extra: Record<string, string>): Record<string, string> {
  const props: Record<string, string> = {};
  const skip = new Set(['base_image_ref', 'min_ram', 'min_disk', 'disk_format', 'container_format', 'image_location', 'image_state', 'image_type', 'instance_uuid', 'owner_id', 'user_id']);
  for (const [k, v] of Object.entries(inst.systemMetadata)) {
    if (k.startsWith('image_') && !skip.has(k.slice(6))) props[k.slice(6)] = v;
  }
  props.instance_uuid = inst.uuid;
  props.user_id = inst.userId;
  props.base_image_ref = inst.imageRef;
  return { ...props, ...extra };
}

async function createSnapshotImage(ctx: Context, req: Req, inst: Instance, name: string, props: Record<string, string>) {
  if (!ctx.services.image) throw new ApiError(503, 'The image service is not available.');
  return ctx.services.image.create(req.auth!, {
    name, visibility: 'private', minRam: Number(inst.systemMetadata.image_min_ram ?? 0) || 0,
    minDisk: Math.max(inst.rootGb, Number(inst.systemMetadata.image_min_disk ?? 0) || 0),
    diskFormat: inst.systemMetadata.image_disk_format, containerFormat: inst.systemMetadata.image_container_format,
    properties: snapshotProperties(inst, props),
  });
}

const imageUrl = (ctx: Context, id: string) => `${ctx.config.publicUrl}/image/images/${id}`;

async function imageActionResponse(ctx: Context, req: Req, reply: FastifyReply, imageId: string) {
  reply.code(202);
  if (mv(req).atLeast('2.45')) return { image_id: imageId };
  reply.header('Location', imageUrl(ctx, imageId));
  return reply.send();
}

const ACTIONS: Record<string, Handler> = {
  async reboot(ctx, req, reply, body) {
    validateBody(S.rebootSchema, body);
    const type = String(body.reboot.type).toUpperCase();
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:reboot', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    if (type === 'SOFT') {
      await startAction(ctx, req, inst, { action: 'reboot', apiAction: 'reboot', op: 'reboot', vm: [VM.ACTIVE], task: [null], taskState: 'rebooting', payload: { type } });
    } else {
      await startAction(ctx, req, inst, {
        action: 'reboot', apiAction: 'reboot', op: 'reboot', vm: [VM.ACTIVE, VM.STOPPED, VM.PAUSED, VM.SUSPENDED, VM.ERROR],
        task: ALLOW_REBOOT_TASKS, taskState: 'rebooting_hard', payload: { type },
      });
    }
    return reply.code(202).send();
  },
  'os-stop': simple('os-stop', 'stop', 'os_compute_api:servers:stop', [VM.ACTIVE, VM.ERROR], 'powering-off', { host: true }),
  'os-start': simple('os-start', 'start', 'os_compute_api:servers:start', [VM.STOPPED], 'powering-on', { host: true }),
  pause: simple('pause', 'pause', 'os_compute_api:os-pause-server:pause', [VM.ACTIVE], 'pausing', { target: 'project' }),
  unpause: simple('unpause', 'unpause', 'os_compute_api:os-pause-server:unpause', [VM.PAUSED], 'unpausing', { target: 'project' }),
  suspend: simple('suspend', 'suspend', 'os_compute_api:os-suspend-server:suspend', [VM.ACTIVE], 'suspending', { target: 'project' }),
  resume: simple('resume', 'resume', 'os_compute_api:os-suspend-server:resume', [VM.SUSPENDED], 'resuming', { target: 'project' }),
  unrescue: simple('unrescue', 'unrescue', 'os_compute_api:os-unrescue', [VM.RESCUED], 'unrescuing', { target: 'project' }),

  async lock(ctx, req, reply, body) {
    validateBody(S.lockSchema(req), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-lock-server:lock', req.auth!, project(inst));
    const reason: string | undefined = mv(req).atLeast('2.73') ? body.lock?.locked_reason : undefined;
    const isOwner = inst.projectId === req.auth!.projectId;
    if (inst.lockedBy && isOwner) return reply.code(202).send();
    await ctx.db.tx(async (t) => {
      const actionId = await recordAction(t, { uuid: inst.uuid, action: 'lock', requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
      await updateInstance(t, inst.uuid, { locked_by: isOwner ? 'owner' : 'admin', ...(reason ? { locked_reason: reason } : {}) });
      await recordInstantEvent(t, actionId, 'api_lock');
    });
    return reply.code(202).send();
  },

  async unlock(ctx, req, reply, body) {
    validateBody(S.anyBody('unlock'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-lock-server:unlock', req.auth!, project(inst));
    const expected = inst.projectId === req.auth!.projectId ? 'owner' : 'admin';
    if (inst.lockedBy && inst.lockedBy !== expected) ctx.policy.authorize('os_compute_api:os-lock-server:unlock:unlock_override', req.auth!, project(inst));
    await ctx.db.tx(async (t) => {
      const actionId = await recordAction(t, { uuid: inst.uuid, action: 'unlock', requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
      await updateInstance(t, inst.uuid, { locked_by: null, locked_reason: null });
      await recordInstantEvent(t, actionId, 'api_unlock');
    });
    return reply.code(202).send();
  },

  async rebuild(ctx, req, reply, body) {
    const v = mv(req);
    validateBody(S.rebuildSchema(req), body);
    const r = body.rebuild as Record<string, any>;
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:rebuild', req.auth!, owner(inst));
    if (v.atLeast('2.63') && 'trusted_image_certificates' in r) ctx.policy.authorize('os_compute_api:servers:rebuild:trusted_certs', req.auth!, owner(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'rebuild', { vm: [VM.ACTIVE, VM.STOPPED, VM.ERROR] });
    const password: string = r.adminPass ?? generatePassword();
    if (r.imageRef !== inst.imageRef && isVolumeBacked(await bdmsOf(ctx.db, inst.uuid))) {
      throw badRequest(`Image ${r.imageRef} is unacceptable: Unable to rebuild with a different image for a volume-backed server.`);
    }
    const img = ctx.services.image ? await ctx.services.image.get(r.imageRef, req.auth!) : null;
    if (!img) throw badRequest('Cannot find image for rebuild');
    if (img.status !== 'active') throw badRequest(`Image ${r.imageRef} is not active.`);
    if (inst.memoryMb < (img.minRam ?? 0)) throw badRequest("Flavor's memory is too small for requested image.");
    const rootBytes = inst.rootGb * 1024 ** 3;
    if (rootBytes && (img.size ?? 0) > rootBytes) throw badRequest(`Flavor's disk is too small for requested image. Flavor disk is ${rootBytes} bytes, image is ${img.size} bytes.`);
    if (rootBytes && (img.minDisk ?? 0) * 1024 ** 3 > rootBytes) throw badRequest(`Flavor's disk is too small for requested image. Flavor disk is ${rootBytes} bytes, minimum image disk is ${img.minDisk * 1024 ** 3} bytes.`);
    const fields: Record<string, unknown> = { image_ref: img.id, progress: 0 };
    if ('name' in r) fields.display_name = r.name;
    if (v.atLeast('2.19') && 'description' in r) fields.display_description = r.description;
    if ('accessIPv4' in r) fields.access_ip_v4 = canonicalIpv4(r.accessIPv4);
    if ('accessIPv6' in r) fields.access_ip_v6 = canonicalIpv6(r.accessIPv6);
    if ('OS-DCF:diskConfig' in r) fields.auto_disk_config = r['OS-DCF:diskConfig'] === 'AUTO' ? 1 : 0;
    if (v.atLeast('2.54') && 'key_name' in r) {
      if (r.key_name === null) { fields.key_name = null; fields.key_data = null; } else {
        const kp = await getKeypair(ctx.db, inst.userId, r.key_name);
        if (!kp) throw badRequest('Invalid key_name provided.');
        fields.key_name = kp.name; fields.key_data = kp.publicKey;
      }
    }
    if (v.atLeast('2.57') && 'user_data' in r) fields.user_data = r.user_data;
    if (v.atLeast('2.63') && 'trusted_image_certificates' in r) fields.trusted_certs = r.trusted_image_certificates;
    if (r.metadata) await enforceMetadataQuota(ctx.db, inst.projectId, Object.keys(r.metadata).length);
    if (Array.isArray(r.personality) && r.personality.length) await enforceInjectedFilesQuota(ctx.db, inst.projectId, r.personality);
    const sm: Record<string, string> = {};
    for (const [k, val] of Object.entries(inst.systemMetadata)) if (!k.startsWith('image_')) sm[k] = val;
    for (const [k, val] of Object.entries(img.properties ?? {})) sm[`image_${k}`] = String(val);
    Object.assign(sm, {
      image_base_image_ref: img.id, image_min_ram: String(img.minRam ?? 0), image_min_disk: String(img.minDisk ?? 0),
      ...(img.diskFormat ? { image_disk_format: img.diskFormat } : {}), ...(img.containerFormat ? { image_container_format: img.containerFormat } : {}),
    });
    fields.system_metadata = sm;
    await startAction(ctx, req, inst, {
      action: 'rebuild', apiAction: 'rebuild', op: 'rebuild', vm: [VM.ACTIVE, VM.STOPPED, VM.ERROR], taskState: 'rebuilding', fields,
      payload: { wasStopped: inst.vmState === VM.STOPPED, preserveEphemeral: r.preserve_ephemeral !== undefined && parseBoolean(r.preserve_ephemeral, 'preserve_ephemeral') },
      also: async (t) => { if (r.metadata) await setMetadata(t, inst.uuid, r.metadata); },
    });
    const cur = await findServer(ctx, req, inst.uuid);
    const full = v.atLeast('2.75');
    const server = await showBody(ctx, req, cur, { full, showUserData: false, showKeypair: v.atLeast('2.54') });
    server.adminPass = password;
    if (v.atLeast('2.57')) server.user_data = cur.userData;
    reply.code(202).header('Location', (server.links as any[])[0].href);
    return { server };
  },

  async resize(ctx, req, reply, body) {
    validateBody(S.resizeSchema, body);
    const flavorId = String(body.resize.flavorRef).split('/').filter(Boolean).pop() ?? '';
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:resize', req.auth!, owner(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'resize', { vm: [VM.ACTIVE, VM.STOPPED] });
    checkHost(inst);
    const node = (await listNodes(ctx.db)).find((n) => n.host === inst.host);
    if (node && node.state === 'down') throw conflict('Service is unavailable at this time.');
    const flavor = await getFlavor(ctx.db, flavorId);
    if (!flavor || flavor.disabled || !(await flavorAccessibleBy(ctx.db, flavor, req.auth!.projectId, isAdmin(ctx, req)))) {
      throw badRequest(`Flavor ${flavorId} could not be found.`);
    }
    if (flavor.id === inst.flavor.id) throw badRequest('When resizing, instances must change flavor!');
    if (flavor.rootGb === 0 && inst.rootGb !== 0) throw badRequest('Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.');
    const spec: InstanceFlavor = { ...flavorToSpec(flavor), internalId: flavor.internalId, rxtxFactor: flavor.rxtxFactor, isPublic: flavor.isPublic, description: flavor.description };
    const disk = body.resize['OS-DCF:diskConfig'];
    await startAction(ctx, req, inst, {
      action: 'resize', apiAction: 'resize', op: 'resize', vm: [VM.ACTIVE, VM.STOPPED], taskState: 'resize_prep',
      fields: { ...flavorColumns(spec), old_flavor: inst.flavor, progress: 0, ...(disk ? { auto_disk_config: disk === 'AUTO' ? 1 : 0 } : {}) },
      also: async (t, cur) => {
        await enforceResizeQuota(t, cur.projectId, cur.userId, flavor.vcpus - cur.vcpus, flavor.memoryMb - cur.memoryMb);
        // A vCenter cluster resizes in place: source and destination are the same node.
        const m = await recordMigration(t, {
          instanceUuid: cur.uuid, migrationType: 'resize', status: 'pre-migrating', sourceCompute: cur.host, destCompute: cur.host,
          sourceNode: cur.node, destNode: cur.node, destHost: cur.host, oldInstanceTypeId: cur.flavor.internalId ?? null,
          newInstanceTypeId: flavor.internalId, projectId: cur.projectId, userId: cur.userId,
        });
        return { migrationUuid: m.uuid };
      },
    });
    return reply.code(202).send();
  },

  async confirmResize(ctx, req, reply, body) {
    validateBody(S.anyBody('confirmResize'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:confirm_resize', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    await startAction(ctx, req, inst, { action: 'confirmResize', apiAction: 'confirmResize', op: 'confirm_resize', vm: [VM.RESIZED], taskState: 'resize_confirming' });
    return reply.code(204).send();
  },

  async revertResize(ctx, req, reply, body) {
    validateBody(S.anyBody('revertResize'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:revert_resize', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    await startAction(ctx, req, inst, { action: 'revertResize', apiAction: 'revertResize', op: 'revert_resize', vm: [VM.RESIZED], taskState: 'resize_reverting' });
    return reply.code(202).send();
  },

  async createImage(ctx, req, reply, body) {
    validateBody(S.createImageSchema, body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:create_image', req.auth!, project(inst));
    const states = [VM.ACTIVE, VM.STOPPED, VM.PAUSED, VM.SUSPENDED];
    checkState(inst, 'createImage', { vm: states });
    const md: Record<string, string> = body.createImage.metadata ?? {};
    const image = await createSnapshotImage(ctx, req, inst, body.createImage.name, { image_type: 'snapshot', ...md });
    try {
      await startAction(ctx, req, inst, { action: 'createImage', apiAction: 'createImage', op: 'snapshot', vm: states, taskState: 'image_snapshot', payload: { imageId: image.id } });
    } catch (e) {
      await ctx.services.image!.delete(image.id).catch(() => undefined);
      throw e;
    }
    return imageActionResponse(ctx, req, reply, image.id);
  },

  async createBackup(ctx, req, reply, body) {
    validateBody(S.createBackupSchema, body);
    const b = body.createBackup;
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-create-backup', req.auth!, project(inst));
    const states = [VM.ACTIVE, VM.STOPPED, VM.PAUSED, VM.SUSPENDED];
    checkState(inst, 'createBackup', { vm: states });
    const rotation = Number(b.rotation);
    const image = await createSnapshotImage(ctx, req, inst, b.name, { image_type: 'backup', ...(b.metadata ?? {}), backup_type: b.backup_type });
    try {
      await startAction(ctx, req, inst, {
        action: 'createBackup', apiAction: 'createBackup', op: 'backup', vm: states, taskState: 'image_backup',
        payload: { imageId: image.id, rotation, backupType: b.backup_type },
      });
    } catch (e) {
      await ctx.services.image!.delete(image.id).catch(() => undefined);
      throw e;
    }
    return imageActionResponse(ctx, req, reply, image.id);
  },

  async rescue(ctx, req, reply, body) {
    validateBody(S.rescueSchema, body);
    const r = body.rescue ?? {};
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-rescue', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'rescue', { vm: [VM.ACTIVE, VM.STOPPED, VM.ERROR] });
    if (r.rescue_image_ref) {
      const img = ctx.services.image ? await ctx.services.image.get(r.rescue_image_ref, req.auth!) : null;
      if (!img) throw badRequest(`Image ${r.rescue_image_ref} could not be found.`);
      if (img.status !== 'active') throw badRequest(`Image ${r.rescue_image_ref} is not active.`);
    }
    const password: string = r.adminPass ?? generatePassword();
    await startAction(ctx, req, inst, {
      action: 'rescue', apiAction: 'rescue', op: 'rescue', vm: [VM.ACTIVE, VM.STOPPED, VM.ERROR], taskState: 'rescuing',
      payload: r.rescue_image_ref ? { rescueImageRef: r.rescue_image_ref } : {},
    });
    return { adminPass: password };
  },

  async shelve(ctx, req, reply, body) {
    validateBody(S.anyBody('shelve'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-shelve:shelve', req.auth!, owner(inst));
    checkLock(ctx, req, inst);
    const states = [VM.ACTIVE, VM.STOPPED, VM.PAUSED, VM.SUSPENDED];
    checkState(inst, 'shelve', { vm: states });
    const image = inst.rootGb > 0 || inst.imageRef
      ? await createSnapshotImage(ctx, req, inst, `${inst.displayName}-shelved`, { image_type: 'snapshot' })
      : null;
    const offload = serversConfig(ctx).shelvedOffloadTime === 0;
    try {
      await startAction(ctx, req, inst, { action: 'shelve', apiAction: 'shelve', op: 'shelve', vm: states, taskState: 'shelving', payload: { imageId: image?.id, offload } });
    } catch (e) {
      if (image) await ctx.services.image!.delete(image.id).catch(() => undefined);
      throw e;
    }
    return reply.code(202).send();
  },

  async shelveOffload(ctx, req, reply, body) {
    validateBody(S.anyBody('shelveOffload'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-shelve:shelve_offload', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    await startAction(ctx, req, inst, { action: 'shelveOffload', apiAction: 'shelveOffload', op: 'shelve_offload', vm: [VM.SHELVED], taskState: 'shelving_offloading' });
    return reply.code(202).send();
  },

  async unshelve(ctx, req, reply, body) {
    validateBody(S.unshelveSchema(req), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-shelve:unshelve', req.auth!, owner(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'unshelve', { vm: [VM.SHELVED, VM.SHELVED_OFFLOADED] });
    const fields: Record<string, unknown> = {};
    const az: string | undefined = mv(req).atLeast('2.77') ? body.unshelve?.availability_zone : undefined;
    if (az !== undefined) {
      if (inst.vmState !== VM.SHELVED_OFFLOADED) {
        throw conflict(`The availability_zone can only be specified when the instance is in ${'SHELVED_OFFLOADED'} state. Instance ${inst.uuid} is in vm_state ${inst.vmState}.`);
      }
      if (!(await listNodes(ctx.db)).some((n) => n.status === 'enabled' && n.availabilityZone === az)) throw badRequest('The requested availability zone is not available');
      fields.requested_availability_zone = az;
    }
    await startAction(ctx, req, inst, { action: 'unshelve', apiAction: 'unshelve', op: 'unshelve', vm: [VM.SHELVED, VM.SHELVED_OFFLOADED], taskState: 'unshelving', fields });
    return reply.code(202).send();
  },

  async 'os-getConsoleOutput'(ctx, req, _reply, body) {
    validateBody(S.consoleOutputSchema, body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-console-output', req.auth!, project(inst));
    const raw = body['os-getConsoleOutput'].length;
    const length = raw === undefined || raw === null ? null : Number(raw);
    checkHost(inst);
    let output: string;
    try {
      output = await ctx.driver.getConsoleOutput(inst.uuid);
    } catch (e) {
      if (e instanceof InstanceNotFound) throw notFound(`Instance ${inst.uuid} could not be found.`);
      throw e;
    }
    if (length !== null && length >= 0) {
      output = length === 0 ? '' : output.split('\n').slice(-length).join('\n');
    }
    return { output: output.replace(/[\x00-\x08\x0B-\x1F]/g, '') };
  },

  async 'os-resetState'(ctx, req, reply, body) {
    validateBody(S.resetStateSchema, body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-admin-actions:reset_state', req.auth!, project(inst));
    await ctx.db.tx(async (t) => {
      const actionId = await recordAction(t, { uuid: inst.uuid, action: 'resetState', requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
      await updateInstance(t, inst.uuid, { vm_state: body['os-resetState'].state, task_state: null });
      await recordInstantEvent(t, actionId, 'api_reset_state');
    });
    return reply.code(202).send();
  },

  async changePassword(ctx, req, _reply, body) {
    validateBody(S.changePasswordSchema, body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-admin-password', req.auth!, owner(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'changePassword', { vm: [VM.ACTIVE] });
    // The vCenter driver cannot set a guest's password (Nova's VMware driver neither).
    throw notImplemented('Unable to set password on instance');
  },

  async restore(ctx, req, reply, body) {
    validateBody(S.anyBody('restore'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-deferred-delete:restore', req.auth!, owner(inst));
    checkLock(ctx, req, inst);
    await startAction(ctx, req, inst, { action: 'restore', apiAction: 'restore', op: 'restore', vm: [VM.SOFT_DELETED], taskState: 'restoring' });
    return reply.code(202).send();
  },

  async forceDelete(ctx, req, reply, body) {
    validateBody(S.anyBody('forceDelete'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-deferred-delete:force', req.auth!, owner(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'forceDelete', { task: [null], mustHaveLaunched: false });
    await deleteServer(ctx, req, inst, { force: true });
    return reply.code(202).send();
  },

  async trigger_crash_dump(ctx, req, reply, body) {
    if (mv(req).below('2.17')) throw badRequest('There is no such action: trigger_crash_dump');
    validateBody(S.triggerCrashDumpSchema, body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:trigger_crash_dump', req.auth!, owner(inst));
    checkLock(ctx, req, inst);
    checkHost(inst);
    checkState(inst, 'trigger_crash_dump', { vm: [VM.ACTIVE, VM.PAUSED, VM.RESCUED, VM.RESIZED, VM.ERROR] });
    // Nova casts to the compute, whose VMware driver has no NMI to send: the event records the failure.
    await ctx.db.tx(async (t) => {
      const actionId = await recordAction(t, { uuid: inst.uuid, action: 'trigger_crash_dump', requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
      const ev = await startEvent(t, actionId, 'compute_trigger_crash_dump', inst.host);
      await finishEvent(t, ev, new Error('Triggering a crash dump is not supported by the vCenter driver.'));
    });
    return reply.code(202).send();
  },

  async injectNetworkInfo(ctx, req, reply, body) {
    validateBody(S.anyBody('injectNetworkInfo'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-admin-actions:inject_network_info', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    // No network information exists until a network service does: nothing to inject.
    return reply.code(202).send();
  },

  // Removed from Nova (23.0.0): 410 Gone.
  async resetNetwork(ctx, req) {
    await findServer(ctx, req, req.params.id);
    throw new ApiError(410, 'This resource is no longer available.');
  },

  async migrate(ctx, req, _reply, body) {
    if (mv(req).atLeast('2.56')) validateBody(S.migrateSchema, body);
    const inst = await findServer(ctx, req, req.params.id);
    const host = mv(req).atLeast('2.56') ? body.migrate?.host : undefined;
    ctx.policy.authorize(host ? 'os_compute_api:os-migrate-server:migrate:host' : 'os_compute_api:os-migrate-server:migrate', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'migrate', { vm: [VM.ACTIVE, VM.STOPPED] });
    checkHost(inst);
    if (host && !(await listNodes(ctx.db)).some((n) => n.host === host)) throw badRequest(`Compute host ${host} could not be found.`);
    throw badRequest(MOVE_UNSUPPORTED);
  },

  async 'os-migrateLive'(ctx, req, _reply, body) {
    validateBody(S.migrateLiveSchema, body);
    const inst = await findServer(ctx, req, req.params.id);
    const host = body['os-migrateLive'].host;
    ctx.policy.authorize(host ? 'os_compute_api:os-migrate-server:migrate_live:host' : 'os_compute_api:os-migrate-server:migrate_live', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'os-migrateLive', { vm: [VM.ACTIVE, VM.PAUSED] });
    if (host && !(await listNodes(ctx.db)).some((n) => n.host === host)) throw badRequest(`Compute host ${host} could not be found.`);
    throw badRequest(MOVE_UNSUPPORTED);
  },

  async evacuate(ctx, req, _reply, body) {
    validateBody(S.evacuateSchema, body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-evacuate', req.auth!, project(inst));
    checkState(inst, 'evacuate', { vm: [VM.ACTIVE, VM.STOPPED, VM.ERROR] });
    const node = (await listNodes(ctx.db)).find((n) => n.host === inst.host);
    // Nova evacuates only from a host whose compute service is down.
    if (node && node.state === 'up') throw badRequest(`Compute service of ${inst.host} is still in use.`);
    throw badRequest(MOVE_UNSUPPORTED);
  },

  async addSecurityGroup(ctx, req, _reply, body) {
    validateBody(S.securityGroupActionSchema('addSecurityGroup'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-security-groups:add', req.auth!, project(inst));
    const api = ctx.services.network;
    // Security groups live in the network service: without one no name can match.
    if (!api) throw notFound(`Security group ${body.addSecurityGroup.name} not found.`);
    await api.addSecurityGroup(req.auth!, inst.uuid, inst.projectId, body.addSecurityGroup.name);
    return _reply.code(202).send();
  },

  // Nova-network era actions that Nova still proxies to Neutron below 2.44 (multinic, floating IPs).
  async addFixedIp(ctx, req, reply, body) {
    const b = networkAction(req, body, 'addFixedIp', 'networkId');
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-multinic:add', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    const api = ctx.services.network;
    if (!api?.addFixedIp) throw notFound(`Network ${b.networkId} could not be found.`);
    await api.addFixedIp(req.auth!, inst.uuid, String(b.networkId));
    return reply.code(202).send();
  },

  async removeFixedIp(ctx, req, reply, body) {
    const b = networkAction(req, body, 'removeFixedIp', 'address');
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-multinic:remove', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    const api = ctx.services.network;
    if (!api?.removeFixedIp) throw badRequest(`Unable to find address ${b.address}`);
    await api.removeFixedIp(req.auth!, inst.uuid, String(b.address));
    return reply.code(202).send();
  },

  async addFloatingIp(ctx, req, reply, body) {
    const b = networkAction(req, body, 'addFloatingIp', 'address', ['fixed_address']);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-floating-ips:add', req.auth!, project(inst));
    const api = ctx.services.network;
    if (!api?.associateFloatingIp) throw notFound(`floating IP not found`);
    await api.associateFloatingIp(req.auth!, inst.uuid, String(b.address), b.fixed_address ?? null);
    return reply.code(202).send();
  },

  async removeFloatingIp(ctx, req, reply, body) {
    const b = networkAction(req, body, 'removeFloatingIp', 'address');
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-floating-ips:remove', req.auth!, project(inst));
    const api = ctx.services.network;
    if (!api?.disassociateFloatingIp) throw notFound(`floating IP not found`);
    await api.disassociateFloatingIp(req.auth!, inst.uuid, String(b.address));
    return reply.code(202).send();
  },

  async removeSecurityGroup(ctx, req, _reply, body) {
    validateBody(S.securityGroupActionSchema('removeSecurityGroup'), body);
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:os-security-groups:remove', req.auth!, project(inst));
    const api = ctx.services.network;
    if (!api) throw notFound(`Security group ${body.removeSecurityGroup.name} not found.`);
    await api.removeSecurityGroup(req.auth!, inst.uuid, inst.projectId, body.removeSecurityGroup.name);
    return _reply.code(202).send();
  },
};

/** The body of a pre-2.44 network action: 404 from 2.44 (the action is gone), Nova's schema below. */
function networkAction(req: Req, body: any, key: string, field: string, optional: string[] = []): Record<string, any> {
  if (mv(req).atLeast('2.44')) throw notFound('The resource could not be found.');
  const props: Record<string, any> = { [field]: { type: 'string', minLength: 1 } };
  for (const o of optional) props[o] = { type: 'string' };
  validateBody({ type: 'object', properties: { [key]: { type: 'object', properties: props, required: [field], additionalProperties: false } }, required: [key], additionalProperties: false }, body);
  return body[key];
}

export async function actionRoutes(app: FastifyInstance, ctx: Context) {
  app.post<{ Params: { id: string } }>('/servers/:id/action', async (req, reply) => {
    const body = req.body as any;
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest('Malformed request body');
    }
    const keys = Object.keys(body);
    // Nova's action_peek: exactly one key names the action.
    if (keys.length !== 1) throw badRequest('Malformed request body');
    if (!Object.hasOwn(ACTIONS, keys[0])) throw badRequest(`There is no such action: ${keys[0]}`);
    return ACTIONS[keys[0]](ctx, req, reply, body);
  });
}
