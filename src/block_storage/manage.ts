// Cinder's manage existing (microversion 3.8: /manageable_volumes and /manageable_snapshots,
// which were the os-volume-manage and os-snapshot-manage extensions): the VMDKs in the
// datastores' volumes/ folders that no Cinder volume or snapshot owns are "manageable", and
// managing one makes it a volume (or a snapshot of a volume) in place, without copying. The
// listing asks the volume driver; the take-over is a durable task that finds the VMDK again,
// so a reference that is gone, in use or taken meanwhile leaves the volume in error_managing.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { BackendDisk } from '../core/virt.ts';
import type { TaskRecord } from '../core/tasks.ts';
import { fromJson, toJson } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { isUuid, nowIso, uuid } from '../core/ids.ts';
import { VOLUME_HOST } from './hosts.ts';
import { enforceVolumeQuota } from './quotas.ts';
import { backendState, assertNotFrozen } from './services.ts';
import { resolveVolumeType } from './types.ts';
import { invalidInput, optionalString, paginationParams, parseBool, queryOne, validateMetadata } from './common.ts';
import { atLeast, requireVersion } from './microversion.ts';
import { VOLUME_AZ, findVolume, getVolume, showVolume, updateVolume, volumeTarget } from './volumes.ts';
import { snapshotRow, snapshotView } from './snapshots.ts';

export const TASK_MANAGE = 'cinder.volume.manage_existing';
export const TASK_MANAGE_SNAPSHOT = 'cinder.snapshot.manage_existing';

export const MANAGE_POLICY: Record<string, string> = {
  'volume_extension:volume_manage': 'rule:context_is_admin',
  'volume_extension:list_manageable': 'rule:context_is_admin',
  'snapshot_extension:snapshot_manage': 'rule:context_is_admin',
  'snapshot_extension:list_manageable': 'rule:context_is_admin',
  'volume_extension:volume_unmanage': 'rule:context_is_admin',
  'snapshot_extension:snapshot_unmanage': 'rule:context_is_admin',
};

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Cinder's host of the one volume backend: "vistack@vmdk", optionally with a pool ("#datastore"). */
function checkHost(host: string): void {
  if (host.replace(/#.*$/, '') !== VOLUME_HOST) throw new ApiError(404, `Service cinder-volume could not be found on host ${host}.`);
}

/** The `source-name` of a reference (a dict, as the VMDK references are). */
function sourceName(ref: unknown): string | null {
  if (isObj(ref) && typeof ref['source-name'] === 'string') return ref['source-name'];
  return null;
}

interface Manageable {
  reference: { 'source-name': string };
  size: number;
  safe_to_manage: boolean;
  reason_not_safe: string | null;
  cinder_id: string | null;
  extra_info: null;
  source_reference?: { 'source-name': string } | null;
}

/** The VMDKs of the backend with what Cinder knows of them (owned volumes and snapshots). */
async function manageable(ctx: Context, kind: 'volume' | 'snapshot'): Promise<Manageable[]> {
  const disks = await ctx.volumeDriver.listDisks();
  const owners = new Map<string, string>();
  const table = kind === 'volume' ? 'cinder_volumes' : 'cinder_snapshots';
  for (const r of await ctx.db.all(`SELECT id, location FROM ${table} WHERE location IS NOT NULL`)) {
    const loc = fromJson<{ path: string } | null>(r.location, null);
    if (loc) owners.set(loc.path, r.id);
  }
  const byPath = new Map(disks.map((d) => [d.location.path, d]));
  return disks.filter((d) => (kind === 'snapshot') === (d.snapshotOf !== undefined)).map((d) => {
    const owner = owners.get(d.location.path) ?? null;
    const reason = owner ? 'already managed' : d.inUse ? 'volume in use' : null;
    const out: Manageable = {
      reference: { 'source-name': d.name }, size: d.sizeGb, safe_to_manage: reason === null, reason_not_safe: reason, cinder_id: owner, extra_info: null,
    };
    if (kind === 'snapshot') {
      const parent = d.snapshotOf ? byPath.get(d.snapshotOf) : undefined;
      out.source_reference = parent ? { 'source-name': parent.name } : null;
    }
    return out;
  });
}

/** resource_common_manage.get_manageable_resources: host, paging, sort by reference or size. */
/**
 * common.get_cluster_host: from `clusterVersion` on, exactly one of host and cluster; before it
 * the host is required. Returns them (a cluster names none of this cloud's services).
 */
function clusterHost(req: FastifyRequest, params: Record<string, unknown>, clusterVersion: string): { host?: string; cluster?: string } {
  const withCluster = atLeast(req, clusterVersion);
  const cluster = withCluster && params.cluster ? String(params.cluster) : undefined;
  const host = params.host ? String(params.host) : undefined;
  if (!!cluster === !!host) throw invalidInput(withCluster ? 'One and only one of cluster and host must be set.' : 'Host field is missing.');
  return { host, cluster };
}

async function listManageable(ctx: Context, req: FastifyRequest, kind: 'volume' | 'snapshot', detail: boolean) {
  const { host } = clusterHost(req, { host: queryOne(req, 'host'), cluster: queryOne(req, 'cluster') }, '3.17');
  const page = paginationParams(req);
  const sortRaw = queryOne(req, 'sort');
  const keys: string[] = [];
  const dirs: string[] = [];
  if (sortRaw) {
    for (const part of sortRaw.split(',')) {
      const [k, d] = part.split(':');
      keys.push(k.trim());
      dirs.push((d ?? 'desc').trim().toLowerCase());
    }
  } else {
    keys.push(queryOne(req, 'sort_key') ?? 'reference');
    dirs.push((queryOne(req, 'sort_dir') ?? 'desc').toLowerCase());
  }
  const badKeys = keys.filter((k) => k !== 'reference' && k !== 'size');
  if (badKeys.length) throw badRequest(`Invalid sort keys passed: ${badKeys.join(', ')}`);
  const badDirs = dirs.filter((d) => d !== 'asc' && d !== 'desc');
  if (badDirs.length) throw badRequest(`Invalid sort dirs passed: ${badDirs.join(', ')}`);
  // The volume service is in no cluster: a cluster finds no service.
  if (!host) throw new ApiError(404, 'Service cinder-volume could not be found.');
  checkHost(host);
  if ((await backendState(ctx.db)).disabled) throw new ApiError(503, 'Service is unavailable at this time.');
  let items = await manageable(ctx, kind);
  const value = (m: Manageable, k: string) => (k === 'size' ? m.size : m.reference['source-name']);
  items.sort((a, b) => {
    for (let i = 0; i < keys.length; i++) {
      const x = value(a, keys[i]);
      const y = value(b, keys[i]);
      if (x === y) continue;
      return (x < y ? -1 : 1) * (dirs[i] === 'asc' ? 1 : -1);
    }
    return 0;
  });
  // The marker is the source-name of the last entry of the previous page.
  let start = 0;
  if (page.marker !== undefined) {
    const i = items.findIndex((m) => m.reference['source-name'] === page.marker);
    if (i < 0) throw invalidInput(`marker not found: ${page.marker}`);
    start = i + 1;
  }
  start += page.offset;
  items = items.slice(start, start + page.limit);
  const view = (m: Manageable) => {
    if (detail) return m;
    const { reason_not_safe: _r, cinder_id: _c, extra_info: _e, ...summary } = m;
    return summary;
  };
  return { [kind === 'volume' ? 'manageable-volumes' : 'manageable-snapshots']: items.map(view) };
}

/** The disk of a reference, if it is a volume VMDK nobody uses and Cinder does not own. */
async function freeDisk(ctx: Context, name: string, kind: 'volume' | 'snapshot'): Promise<BackendDisk | null> {
  const list = await manageable(ctx, kind);
  const m = list.find((x) => x.reference['source-name'] === name);
  if (!m || !m.safe_to_manage) return null;
  return (await ctx.volumeDriver.listDisks()).find((d) => d.name === name) ?? null;
}

function str(b: Record<string, any>, k: string, max = 255) {
  return optionalString(b[k], k, max);
}

/**
 * The routes at 3.8's /manageable_volumes and /manageable_snapshots, and at the extensions'
 * /os-volume-manage and /os-snapshot-manage that 3.0 already had (`legacy`).
 */
export async function manageRoutes(app: FastifyInstance, ctx: Context) {
  for (const legacy of [false, true]) await manageRoutesAt(app, ctx, legacy);
}

async function manageRoutesAt(app: FastifyInstance, ctx: Context, legacy: boolean) {
  const since = (req: FastifyRequest) => { if (!legacy) requireVersion(req, '3.8'); };
  const vols = legacy ? '/os-volume-manage' : '/manageable_volumes';
  const snaps = legacy ? '/os-snapshot-manage' : '/manageable_snapshots';
  const volumeList = (detail: boolean) => async (req: FastifyRequest) => {
    since(req);
    ctx.policy.authorize('volume_extension:list_manageable', req.auth!, {});
    return listManageable(ctx, req, 'volume', detail);
  };
  const snapshotList = (detail: boolean) => async (req: FastifyRequest) => {
    since(req);
    ctx.policy.authorize('snapshot_extension:list_manageable', req.auth!, {});
    return listManageable(ctx, req, 'snapshot', detail);
  };
  app.get(vols, volumeList(false));
  app.get(`${vols}/detail`, volumeList(true));
  app.get(snaps, snapshotList(false));
  app.get(`${snaps}/detail`, snapshotList(true));

  app.post(vols, async (req, reply: FastifyReply) => {
    since(req);
    const body = req.body;
    if (!isObj(body) || !isObj(body.volume)) throw badRequest("Invalid input for field/attribute volume. 'volume' is a required property");
    const b = body.volume;
    const known = ['description', 'availability_zone', 'bootable', 'volume_type', 'name', 'host', 'ref', 'metadata', ...(atLeast(req, '3.16') ? ['cluster'] : [])];
    for (const k of Object.keys(b)) if (!known.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    if (!('ref' in b)) throw badRequest("Invalid input for field/attribute volume. 'ref' is a required property");
    if (!isObj(b.ref) && typeof b.ref !== 'string') throw badRequest(`Invalid input for field/attribute ref. Value: ${JSON.stringify(b.ref)}. ${JSON.stringify(b.ref)} is not of type 'object', 'string'`);
    const name = str(b, 'name');
    const description = str(b, 'description', 255);
    const az = str(b, 'availability_zone');
    const typeRef = str(b, 'volume_type');
    optionalString(b.host, 'host');
    optionalString(b.cluster, 'cluster');
    const metadata = b.metadata === undefined || b.metadata === null ? {} : validateMetadata(b.metadata);
    const bootable = b.bootable === undefined ? false : parseBool(b.bootable, 'bootable');
    ctx.policy.authorize('volume_extension:volume_manage', req.auth!, {});
    const { host, cluster } = clusterHost(req, b, '3.16');
    if (!host) throw new ApiError(503, `Cluster '${cluster}' not found`);
    if (host.replace(/#.*$/, '') !== VOLUME_HOST) throw new ApiError(503, `Host '${host}' not found`);
    if ((await backendState(ctx.db)).disabled) throw new ApiError(503, 'Service is unavailable at this time.');
    if (az && az !== VOLUME_AZ) throw invalidInput(`Availability zone '${az}' is invalid.`);
    // The size is the VMDK's when the reference names one now; the task checks it again.
    const refName = sourceName(b.ref);
    const disk = refName ? (await ctx.volumeDriver.listDisks()).find((d) => d.name === refName) : undefined;
    const id = await ctx.db.tx(async (t) => {
      await assertNotFrozen(t);
      let type;
      try { type = await resolveVolumeType(t, req.auth!, typeRef || null); } catch (e) {
        if (e instanceof ApiError && e.status === 404) throw badRequest(`Invalid volume type: Cannot find requested '${typeRef}' volume type`);
        throw e;
      }
      const size = disk?.sizeGb ?? 0;
      await enforceVolumeQuota(t, req.auth!.projectId!, { volumes: 1, gigabytes: size, volumeType: type.name });
      const vid = uuid();
      const ts = nowIso();
      await t.run(
        `INSERT INTO cinder_volumes (id, project_id, user_id, name, description, size, status, attach_status, availability_zone,
          volume_type_id, bootable, readonly, multiattach, snapshot_id, source_volid, image_id, metadata, image_metadata, location,
          previous_status, launched_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'managing', 'detached', ?, ?, ?, NULL, ?, NULL, NULL, NULL, ?, '{}', NULL, NULL, NULL, ?, ?)`,
        [vid, req.auth!.projectId ?? null, req.auth!.userId, name?.trim() || null, description?.trim() || null, size, VOLUME_AZ, type.id, bootable,
          /^<is>\s*true$/i.test(type.extraSpecs.multiattach ?? ''), toJson(metadata), ts, ts]);
      await ctx.tasks.enqueue(t, TASK_MANAGE, { volumeId: vid, ref: b.ref }, { resourceId: vid });
      return vid;
    });
    reply.code(202);
    return { volume: await showVolume(ctx, req, id, false) };
  });

  app.post(snaps, async (req, reply: FastifyReply) => {
    since(req);
    const body = req.body;
    if (!isObj(body) || !isObj(body.snapshot)) throw badRequest("Invalid input for field/attribute snapshot. 'snapshot' is a required property");
    const b = body.snapshot;
    const known = ['description', 'metadata', 'name', 'volume_id', 'ref'];
    for (const k of Object.keys(b)) if (!known.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    for (const k of ['ref', 'volume_id']) if (!(k in b)) throw badRequest(`Invalid input for field/attribute snapshot. '${k}' is a required property`);
    if (typeof b.volume_id !== 'string' || !isUuid(b.volume_id)) throw badRequest(`Invalid input for field/attribute volume_id. Value: ${JSON.stringify(b.volume_id)}. ${JSON.stringify(b.volume_id)} is not a 'uuid'`);
    const name = str(b, 'name');
    const description = str(b, 'description');
    const metadata = b.metadata === undefined || b.metadata === null ? {} : validateMetadata(b.metadata);
    const v = await findVolume(ctx, req, b.volume_id);
    ctx.policy.authorize('snapshot_extension:snapshot_manage', req.auth!, volumeTarget(v));
    if ((await backendState(ctx.db)).disabled) throw new ApiError(503, 'Service is unavailable at this time.');
    const refName = sourceName(b.ref);
    const disk = refName ? (await ctx.volumeDriver.listDisks()).find((d) => d.name === refName) : undefined;
    const id = uuid();
    await ctx.db.tx(async (t) => {
      const size = disk?.sizeGb ?? v.size;
      await enforceVolumeQuota(t, v.project_id, { snapshots: 1, gigabytes: size });
      const ts = nowIso();
      await t.run(
        `INSERT INTO cinder_snapshots (id, project_id, user_id, volume_id, name, description, size, status, metadata, location, progress, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, NULL, '0%', ?, ?)`,
        [id, v.project_id, req.auth!.userId, v.id, name?.trim() || null, description?.trim() || null, size, toJson(metadata), ts, ts]);
      await ctx.tasks.enqueue(t, TASK_MANAGE_SNAPSHOT, { snapshotId: id, ref: b.ref }, { resourceId: v.id });
    });
    reply.code(202);
    return { snapshot: snapshotView((await snapshotRow(ctx.db, id))!, false, req) };
  });
}

export function registerManageTasks(ctx: Context) {
  // manage_existing: the VMDK becomes the volume's backing where it is. A bad reference is the
  // driver's ManageExistingInvalidReference: the volume goes to error_managing.
  ctx.tasks.register(TASK_MANAGE, {
    async run(task: TaskRecord) {
      const v = await getVolume(ctx.db, task.payload.volumeId);
      if (!v || v.status !== 'managing') return;
      const name = sourceName(task.payload.ref);
      const disk = name ? await freeDisk(ctx, name, 'volume') : null;
      await ctx.db.tx(async (t) => {
        if (!disk) { await updateVolume(t, v.id, { status: 'error_managing' }, "status = 'managing'"); return; }
        await updateVolume(t, v.id, { location: disk.location, size: disk.sizeGb, status: 'available', launched_at: nowIso() }, "status = 'managing'");
      });
    },
    async onFailure(task) {
      await updateVolume(ctx.db, task.payload.volumeId, { status: 'error_managing' }, "status = 'managing'");
    },
  });
  ctx.tasks.register(TASK_MANAGE_SNAPSHOT, {
    async run(task: TaskRecord) {
      const s = await snapshotRow(ctx.db, task.payload.snapshotId);
      if (!s || s.status !== 'creating') return;
      const name = sourceName(task.payload.ref);
      const disk = name ? await freeDisk(ctx, name, 'snapshot') : null;
      if (!disk) {
        await ctx.db.run("UPDATE cinder_snapshots SET status = 'error', updated_at = ? WHERE id = ? AND status = 'creating'", [nowIso(), s.id]);
        return;
      }
      await ctx.db.run("UPDATE cinder_snapshots SET location = ?, size = ?, status = 'available', progress = '100%', updated_at = ? WHERE id = ? AND status = 'creating'",
        [toJson(disk.location), disk.sizeGb, nowIso(), s.id]);
    },
    async onFailure(task) {
      await ctx.db.run("UPDATE cinder_snapshots SET status = 'error', updated_at = ? WHERE id = ? AND status = 'creating'", [nowIso(), task.payload.snapshotId]);
    },
  });
}


