// Cinder volume snapshots: /snapshots and /snapshots/detail (filters, paging, all_tenants for
// admins), show, create, update, delete, /snapshots/{id}/metadata, and the snapshot actions
// (os-reset_status, os-force_delete, os-update_snapshot_status). A snapshot is a copy of the
// volume's VMDK made by the volume driver in a durable task: the row is written `creating` with
// its quota in one transaction, the task makes the copy and sets `available` (or `error`).
// Deletes go the same way (`deleting` → row removed, `error_deleting` on failure). Both tasks
// run in the volume's task order, so a snapshot is never copied from a half-made volume.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { AuthContext } from '../core/auth.ts';
import type { Migration } from '../core/db/migrate.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import type { VolumeLocation } from '../core/virt.ts';
import type { SnapshotInfo } from './api.ts';
import { fromJson, toJson } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import { PermanentError, type TaskRecord } from '../core/tasks.ts';
import { ACTIONS, DETAILS, recordMessage, type MessageEvent } from './messages.ts';
import { atLeast } from './microversion.ts';
import { cinderTime } from './db.ts';
import { enforceVolumeQuota } from './quotas.ts';
import {
  allowed, collectionLinks, isAdmin, listRows, looseBool, paginationParams, parseBool, parseMetadataFilter, queryOne, sortParams, validateMetadata,
} from './common.ts';

/** The progress column (Cinder's os-extended-snapshot-attributes:progress). */
export const snapshotMigrations: Migration[] = [{
  id: 'block-storage-010-snapshot-progress',
  sql: `ALTER TABLE cinder_snapshots ADD COLUMN progress TEXT`,
}];

/** Rules Cinder has for snapshots beyond those in policy.ts (merged into the module's defaults). */
export const SNAPSHOT_POLICY: Record<string, string> = {
  'volume:get_snapshot_metadata': 'rule:project_reader_or_admin',
  'volume:update_snapshot_metadata': 'rule:project_member_or_admin',
  'volume:delete_snapshot_metadata': 'rule:project_member_or_admin',
  'volume_extension:extended_snapshot_attributes': 'rule:project_reader_or_admin',
  'volume_extension:snapshot_admin_actions:force_delete': 'rule:context_is_admin',
  'snapshot_extension:snapshot_actions:update_snapshot_status': 'rule:project_member_or_admin',
};

export const SNAPSHOT_CREATE_TASK = 'block-storage.snapshot-create';
export const SNAPSHOT_DELETE_TASK = 'block-storage.snapshot-delete';

const STATUSES = ['error', 'available', 'creating', 'deleting', 'deleted', 'updating', 'error_deleting', 'unmanaging', 'backing-up', 'restoring'];

const snapshotNotFound = (id: string) => new ApiError(404, `Snapshot ${id} could not be found.`);
const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fieldError(field: string, value: unknown, why: string) {
  return badRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${why}`);
}

function onlyKeys(o: Record<string, unknown>, allowedKeys: string[]) {
  for (const k of Object.keys(o)) if (!allowedKeys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
}

function bodyOf(body: unknown, key: string): Record<string, any> {
  if (!isObj(body) || !(key in body)) throw badRequest(`'${key}' is a required property`);
  onlyKeys(body, [key]);
  if (!isObj(body[key])) throw fieldError(key, body[key], `${JSON.stringify(body[key])} is not of type 'object'`);
  return body[key];
}

function nameField(v: unknown, field: string): string | null {
  if (v === null) return null;
  if (typeof v !== 'string') throw fieldError(field, v, `${JSON.stringify(v)} is not of type 'string', 'null'`);
  if (v.length > 255) throw fieldError(field, v, `'${v}' is too long`);
  return v.trim();
}

/** Cinder's metadata schema plus its key rule (letters, digits, -_:. / and space). */
function metadataField(v: unknown, field = 'metadata'): Record<string, string> {
  const md = validateMetadata(v, field);
  for (const k of Object.keys(md)) {
    if (!/^[a-zA-Z0-9-_:. /]{1,255}$/.test(k)) throw badRequest(`Invalid input for field/attribute ${field}. Additional properties are not allowed ('${k}' was unexpected)`);
  }
  return md;
}

// ---- data access --------------------------------------------------------------------------

interface SnapshotRow {
  id: string; project_id: string; user_id: string; volume_id: string; name: string | null; description: string | null;
  size: number; status: string; metadata: string; location: string | null; progress: string | null; created_at: string; updated_at: string;
  group_snapshot_id?: string | null;
}

export async function snapshotRow(q: Queryable, id: string): Promise<SnapshotRow | undefined> {
  // Inside a transaction the row is locked (PostgreSQL) for the read-check-write that follows.
  const lock = 'forUpdate' in q ? (q as Tx).forUpdate : '';
  return q.get<SnapshotRow>(`SELECT * FROM cinder_snapshots WHERE id = ?${lock}`, [id]);
}

/** A snapshot as the caller may see it (their project's; any for admins), else 404. */
async function visibleSnapshot(q: Queryable, auth: AuthContext, id: string): Promise<SnapshotRow> {
  const r = await snapshotRow(q, id);
  if (!r || (!auth.roles.includes('admin') && r.project_id !== auth.projectId)) throw snapshotNotFound(id);
  return r;
}

function toInfo(r: SnapshotRow): SnapshotInfo {
  return {
    id: r.id, projectId: r.project_id, volumeId: r.volume_id, status: r.status, sizeGb: Number(r.size),
    name: r.name ?? null, description: r.description ?? null, createdAt: r.created_at,
  };
}

function progressOf(r: SnapshotRow): string {
  if (r.progress) return r.progress;
  return r.status === 'available' ? '100%' : '0%';
}

export function snapshotView(r: SnapshotRow, extended: boolean, req?: FastifyRequest) {
  const v: Record<string, unknown> = {
    id: r.id, created_at: cinderTime(r.created_at), updated_at: cinderTime(r.updated_at), name: r.name ?? null,
    description: r.description ?? null, volume_id: r.volume_id, status: r.status, size: Number(r.size), metadata: fromJson(r.metadata, {}),
  };
  if (req && atLeast(req, '3.14')) v.group_snapshot_id = r.group_snapshot_id ?? null;
  if (extended) {
    v['os-extended-snapshot-attributes:project_id'] = r.project_id;
    v['os-extended-snapshot-attributes:progress'] = progressOf(r);
  }
  return v;
}

export interface SnapshotCreateRequest {
  projectId: string;
  userId: string;
  volumeId: string;
  name?: string | null;
  description?: string | null;
  force?: boolean;
  metadata?: Record<string, string> | null;
  /** Admins may snapshot any project's volume; others only their own. */
  admin?: boolean;
  /** The API request asking for it (recorded in a user message if the create fails). */
  requestId?: string;
}

/** Writes the snapshot (status creating) and its create task in one transaction; returns its id. */
export async function createSnapshotFor(ctx: Context, req: SnapshotCreateRequest): Promise<string> {
  const id = uuid();
  await ctx.db.tx(async (t) => {
    const vol = await t.get(`SELECT id, project_id, size, status FROM cinder_volumes WHERE id = ?${t.forUpdate}`, [req.volumeId]);
    if (!vol || (!req.admin && vol.project_id !== req.projectId)) throw new ApiError(404, `Volume ${req.volumeId} could not be found.`);
    const valid = req.force ? ['available', 'in-use'] : ['available'];
    if (!valid.includes(vol.status)) {
      throw badRequest(`Invalid volume: Volume ${vol.id} status must be ${valid.join(', ')}, but current status is: ${vol.status}.`);
    }
    await enforceVolumeQuota(t, req.projectId, { snapshots: 1, gigabytes: Number(vol.size) });
    const ts = nowIso();
    await t.run(
      `INSERT INTO cinder_snapshots (id, project_id, user_id, volume_id, name, description, size, status, metadata, location, progress, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, NULL, '0%', ?, ?)`,
      [id, req.projectId, req.userId, vol.id, req.name ?? null, req.description ?? null, Number(vol.size), toJson(req.metadata ?? {}), ts, ts]);
    await ctx.tasks.enqueue(t, SNAPSHOT_CREATE_TASK, { snapshotId: id, requestId: req.requestId ?? null }, { resourceId: vol.id });
  });
  return id;
}

/** Marks a snapshot deleting and enqueues its delete task (in t). Statuses other than available/error need force. */
async function startDelete(ctx: Context, t: Tx, r: SnapshotRow, force: boolean, unmanage = false) {
  if ((!force && r.status !== 'available' && r.status !== 'error') || r.group_snapshot_id) {
    throw badRequest('Invalid snapshot: Snapshot status must be available or error and must not be part of a group.');
  }
  // The VMDK copy of a volume being made from this snapshot must not lose its source.
  if (!force && await t.get("SELECT 1 AS x FROM cinder_volumes WHERE snapshot_id = ? AND status = 'creating' LIMIT 1", [r.id])) {
    throw badRequest(`Invalid snapshot: Snapshot ${r.id} has volumes being created from it.`);
  }
  // A second normal delete while one is on its way is refused above; a forced one enqueues another
  // delete (the handler is idempotent), since a status reset to deleting has no task behind it.
  await t.run("UPDATE cinder_snapshots SET status = 'deleting', updated_at = ? WHERE id = ?", [nowIso(), r.id]);
  await ctx.tasks.enqueue(t, SNAPSHOT_DELETE_TASK, { snapshotId: r.id, ...(unmanage ? { unmanage: true } : {}) }, { resourceId: r.volume_id });
}

/** Deletes a snapshot as DELETE /snapshots/{id} does; succeeds when it is already gone or going. */
export async function deleteSnapshotById(ctx: Context, id: string): Promise<void> {
  await ctx.db.tx(async (t) => {
    const r = await t.get<SnapshotRow>(`SELECT * FROM cinder_snapshots WHERE id = ?${t.forUpdate}`, [id]);
    if (r && r.status !== 'deleting') await startDelete(ctx, t, r, false);
  });
}

export async function getSnapshotInfo(ctx: Context, id: string): Promise<SnapshotInfo | null> {
  const r = await snapshotRow(ctx.db, id);
  return r ? toInfo(r) : null;
}

/** Snapshots of a project (null: all), newest first. */
export async function listSnapshotInfos(ctx: Context, projectId: string | null): Promise<SnapshotInfo[]> {
  const rows = projectId === null
    ? await ctx.db.all<SnapshotRow>('SELECT * FROM cinder_snapshots ORDER BY created_at DESC, id DESC')
    : await ctx.db.all<SnapshotRow>('SELECT * FROM cinder_snapshots WHERE project_id = ? ORDER BY created_at DESC, id DESC', [projectId]);
  return rows.map(toInfo);
}

// ---- tasks --------------------------------------------------------------------------------

/** A failed snapshot task: the error status (compare-and-set) and, when set, a user message. */
async function failSnapshot(ctx: Context, task: TaskRecord, status: string, from: string, action: MessageEvent['action'], detail: MessageEvent['detail']) {
  const { snapshotId } = task.payload as { snapshotId: string };
  await ctx.db.tx(async (t) => {
    const r = await t.get('SELECT project_id FROM cinder_snapshots WHERE id = ?', [snapshotId]);
    const changed = await t.run('UPDATE cinder_snapshots SET status = ?, updated_at = ? WHERE id = ? AND status = ?', [status, nowIso(), snapshotId, from]);
    if (r && changed.changes) {
      await recordMessage(t, { projectId: r.project_id, resourceType: 'VOLUME_SNAPSHOT', resourceId: snapshotId, action, detail, requestId: task.payload.requestId });
    }
  });
}

export function registerSnapshotTasks(ctx: Context) {
  ctx.tasks.register(SNAPSHOT_CREATE_TASK, {
    async run(task) {
      const { snapshotId } = task.payload as { snapshotId: string };
      const s = await snapshotRow(ctx.db, snapshotId);
      // Gone or reset by an admin: nothing to do. A copy made before a crash is found again by the
      // driver (idempotent per id). A snapshot force-deleted while creating is still copied (the copy is idempotent per id) so that its delete, which runs
      // next in the volume's order, finds the file a crashed earlier attempt may have left.
      if (!s || (s.status !== 'creating' && s.status !== 'deleting')) return;
      let loc = fromJson<VolumeLocation | null>(s.location, null);
      if (!loc) {
        const vol = await ctx.db.get('SELECT location FROM cinder_volumes WHERE id = ?', [s.volume_id]);
        if (!vol) throw new PermanentError(`Volume ${s.volume_id} could not be found.`);
        const from = fromJson<VolumeLocation | null>(vol.location, null);
        if (!from) throw new PermanentError(`Volume ${s.volume_id} has no backing VMDK.`);
        loc = await ctx.volumeDriver.createSnapshot(from, snapshotId);
      }
      const where = loc;
      await ctx.db.tx(async (t) => {
        await t.run('UPDATE cinder_snapshots SET location = ?, updated_at = ? WHERE id = ?', [toJson(where), nowIso(), snapshotId]);
        await t.run("UPDATE cinder_snapshots SET status = 'available', progress = '100%' WHERE id = ? AND status = 'creating'", [snapshotId]);
      });
    },
    async onFailure(task, err) {
      const { snapshotId } = task.payload as { snapshotId: string };
      ctx.log.warn('snapshot create failed', { snapshotId, err: String(err) });
      await failSnapshot(ctx, task, 'error', 'creating', ACTIONS.SNAPSHOT_CREATE, DETAILS.SNAPSHOT_CREATE_ERROR);
    },
  });
  ctx.tasks.register(SNAPSHOT_DELETE_TASK, {
    async run(task) {
      const { snapshotId } = task.payload as { snapshotId: string };
      const s = await snapshotRow(ctx.db, snapshotId);
      if (!s || s.status !== 'deleting') return; // gone already, or reset by an admin meanwhile
      const loc = fromJson<VolumeLocation | null>(s.location, null);
      // os-unmanage: Cinder forgets the snapshot, its VMDK stays on the datastore (manageable again).
      if (loc && !task.payload.unmanage) await ctx.volumeDriver.deleteSnapshot(loc);
      await ctx.db.run("DELETE FROM cinder_snapshots WHERE id = ? AND status = 'deleting'", [snapshotId]);
    },
    async onFailure(task, err) {
      const { snapshotId } = task.payload as { snapshotId: string };
      ctx.log.warn('snapshot delete failed', { snapshotId, err: String(err) });
      await failSnapshot(ctx, task, 'error_deleting', 'deleting', ACTIONS.SNAPSHOT_DELETE, DETAILS.SNAPSHOT_DELETE_ERROR);
    },
  });
}

// ---- routes -------------------------------------------------------------------------------

// Cinder sorts by its column names (display_name ...); `name` is the API's alias for it.
const SORT_KEYS = ['id', 'name', 'display_name', 'description', 'display_description', 'status', 'size', 'volume_size', 'volume_id', 'project_id', 'created_at', 'updated_at'];
const SORT_COLUMNS = { display_name: 'name', display_description: 'description', volume_size: 'size' };

export async function snapshotRoutes(app: FastifyInstance, ctx: Context) {
  const target = (req: FastifyRequest, r?: SnapshotRow) => ({ project_id: r?.project_id ?? req.auth!.projectId, user_id: r?.user_id });
  const extended = (req: FastifyRequest, r?: SnapshotRow) => allowed(ctx, req, 'volume_extension:extended_snapshot_attributes', target(req, r));

  const list = (detail: boolean) => async (req: FastifyRequest) => {
    ctx.policy.authorize('volume:get_all_snapshots', req.auth!, target(req));
    const auth = req.auth!;
    const admin = isAdmin(ctx, req);
    const page = paginationParams(req);
    const sort = sortParams(req, SORT_KEYS);
    const where: string[] = [];
    const params: string[] = [];
    const allTenants = admin && looseBool(queryOne(req, 'all_tenants') ?? 'false');
    const projectFilter = admin ? queryOne(req, 'project_id') : undefined;
    if (!allTenants) { where.push('project_id = ?'); params.push(auth.projectId ?? ''); }
    else if (projectFilter !== undefined) { where.push('project_id = ?'); params.push(projectFilter); }
    for (const [key, col] of [['name', 'name'], ['status', 'status'], ['volume_id', 'volume_id']] as const) {
      const v = queryOne(req, key);
      if (v !== undefined) { where.push(`${col} = ?`); params.push(v); }
    }
    // The metadata filter came with 3.22 (before it Cinder ignores it): a JSON column, so the
    // filtering and then the paging are done here.
    const rawMeta = queryOne(req, 'metadata');
    const want = rawMeta !== undefined && atLeast(req, '3.22') ? parseMetadataFilter(rawMeta) : undefined;
    let rows = await listRows<SnapshotRow>(ctx.db, {
      from: 'cinder_snapshots', where, params, sort, sortColumns: SORT_COLUMNS, markerNotFound: snapshotNotFound,
      page: want ? { ...page, limit: Number.MAX_SAFE_INTEGER, offset: 0, marker: undefined } : page,
    });
    if (want) {
      rows = rows.filter((r) => { const m = fromJson<Record<string, string>>(r.metadata, {}); return Object.entries(want).every(([k, x]) => m[k] === x); });
      let start = 0;
      if (page.marker !== undefined) {
        start = rows.findIndex((r) => r.id === page.marker) + 1;
        if (start === 0) throw snapshotNotFound(page.marker);
      }
      start += page.offset;
      rows = rows.slice(start, start + page.limit);
    }
    const body: Record<string, unknown> = { snapshots: rows.map((r) => snapshotView(r, detail && extended(req, r), req)) };
    const links = collectionLinks(ctx, req, detail ? 'snapshots/detail' : 'snapshots', rows, page);
    if (links) body.snapshots_links = links;
    return body;
  };
  app.get('/snapshots', list(false));
  app.get('/snapshots/detail', list(true));

  app.get<{ Params: { snapshot_id: string } }>('/snapshots/:snapshot_id', async (req) => {
    const r = await visibleSnapshot(ctx.db, req.auth!, req.params.snapshot_id);
    ctx.policy.authorize('volume:get_snapshot', req.auth!, target(req, r));
    return { snapshot: snapshotView(r, extended(req, r), req) };
  });

  app.post('/snapshots', async (req, reply) => {
    ctx.policy.authorize('volume:create_snapshot', req.auth!, target(req));
    const b = bodyOf(req.body, 'snapshot');
    onlyKeys(b, ['name', 'display_name', 'description', 'volume_id', 'force', 'metadata']);
    if (!('volume_id' in b)) throw badRequest("Invalid input for field/attribute snapshot. 'volume_id' is a required property");
    if (b.volume_id !== null && typeof b.volume_id !== 'string') throw fieldError('volume_id', b.volume_id, `${JSON.stringify(b.volume_id)} is not of type 'string', 'null'`);
    const name = b.name !== undefined ? nameField(b.name, 'name') : b.display_name !== undefined ? nameField(b.display_name, 'display_name') : null;
    const description = b.description === undefined ? null : nameField(b.description, 'description');
    let force = false;
    if (b.force !== undefined && b.force !== null) {
      if (typeof b.force !== 'boolean' && typeof b.force !== 'string') throw fieldError('force', b.force, `${JSON.stringify(b.force)} is not of type 'boolean', 'string'`);
      force = parseBool(b.force, 'force');
    }
    const metadata = b.metadata === undefined || b.metadata === null ? {} : metadataField(b.metadata);
    const id = await createSnapshotFor(ctx, {
      projectId: req.auth!.projectId!, userId: req.auth!.userId, volumeId: String(b.volume_id), name, description, force, metadata,
      admin: isAdmin(ctx, req), requestId: req.id,
    });
    const r = (await snapshotRow(ctx.db, id))!;
    reply.code(202);
    return { snapshot: snapshotView(r, false, req) };
  });

  app.put<{ Params: { snapshot_id: string } }>('/snapshots/:snapshot_id', async (req) => {
    const b = bodyOf(req.body, 'snapshot');
    onlyKeys(b, ['name', 'description', 'display_name', 'display_description']);
    if (!Object.keys(b).length) throw badRequest(`Invalid input for field/attribute snapshot. Value: {}. {} is not valid under any of the given schemas`);
    const name = b.name !== undefined ? nameField(b.name, 'name') : b.display_name !== undefined ? nameField(b.display_name, 'display_name') : undefined;
    const description = b.description !== undefined ? nameField(b.description, 'description')
      : b.display_description !== undefined ? nameField(b.display_description, 'display_description') : undefined;
    const id = req.params.snapshot_id;
    await ctx.db.tx(async (t) => {
      const r = await visibleSnapshot(t, req.auth!, id);
      ctx.policy.authorize('volume:update_snapshot', req.auth!, target(req, r));
      await t.run('UPDATE cinder_snapshots SET name = ?, description = ?, updated_at = ? WHERE id = ?', [
        name === undefined ? r.name : name, description === undefined ? r.description : description, nowIso(), id]);
    });
    // As Cinder: the extended attributes are in show and detail only.
    return { snapshot: snapshotView((await snapshotRow(ctx.db, id))!, false, req) };
  });

  app.delete<{ Params: { snapshot_id: string } }>('/snapshots/:snapshot_id', async (req, reply) => {
    await ctx.db.tx(async (t) => {
      const r = await visibleSnapshot(t, req.auth!, req.params.snapshot_id);
      ctx.policy.authorize('volume:delete_snapshot', req.auth!, target(req, r));
      await startDelete(ctx, t, r, false);
    });
    return reply.code(202).send();
  });

  app.post<{ Params: { snapshot_id: string } }>('/snapshots/:snapshot_id/action', async (req, reply) => {
    const b = req.body;
    if (!isObj(b) || Object.keys(b).length !== 1) throw badRequest('There is no such action: None');
    const action = Object.keys(b)[0];
    const id = req.params.snapshot_id;
    if (action === 'os-reset_status') {
      const a = bodyOf(b, action);
      onlyKeys(a, ['status']);
      if (typeof a.status !== 'string') throw badRequest(`Invalid input for field/attribute os-reset_status. 'status' is a required property`);
      const status = a.status.toLowerCase();
      if (!STATUSES.includes(status)) throw fieldError('os-reset_status.status', a.status, `'${a.status}' is not a 'snapshot_status'`);
      await ctx.db.tx(async (t) => {
        const r = await visibleSnapshot(t, req.auth!, id);
        ctx.policy.authorize('volume_extension:snapshot_admin_actions:reset_status', req.auth!, target(req, r));
        await t.run('UPDATE cinder_snapshots SET status = ?, updated_at = ? WHERE id = ?', [status, nowIso(), id]);
      });
    } else if (action === 'os-force_delete') {
      if (b[action] !== null && !isObj(b[action])) throw fieldError(action, b[action], `${JSON.stringify(b[action])} is not of type 'object', 'null'`);
      await ctx.db.tx(async (t) => {
        const r = await visibleSnapshot(t, req.auth!, id);
        ctx.policy.authorize('volume_extension:snapshot_admin_actions:force_delete', req.auth!, target(req, r));
        await startDelete(ctx, t, r, true);
      });
    } else if (action === 'os-unmanage') {
      if (b[action] !== null && !isObj(b[action])) throw fieldError(action, b[action], `${JSON.stringify(b[action])} is not of type 'object', 'null'`);
      await ctx.db.tx(async (t) => {
        const r = await visibleSnapshot(t, req.auth!, id);
        ctx.policy.authorize('snapshot_extension:snapshot_unmanage', req.auth!, target(req, r));
        await startDelete(ctx, t, r, false, true);
      });
    } else if (action === 'os-update_snapshot_status') {
      const a = bodyOf(b, action);
      onlyKeys(a, ['status', 'progress']);
      if (typeof a.status !== 'string') throw badRequest(`Invalid input for field/attribute os-update_snapshot_status. 'status' is a required property`);
      if (a.progress !== undefined && a.progress !== null && typeof a.progress !== 'string') throw fieldError('os-update_snapshot_status.progress', a.progress, "is not of type 'string', 'null'");
      const allowedNext: Record<string, string[]> = { creating: ['creating', 'available', 'error'], deleting: ['deleting', 'error_deleting'] };
      await ctx.db.tx(async (t) => {
        const r = await visibleSnapshot(t, req.auth!, id);
        ctx.policy.authorize('snapshot_extension:snapshot_actions:update_snapshot_status', req.auth!, target(req, r));
        const next = allowedNext[r.status];
        if (!next) throw badRequest(`Snapshot status ${r.status} not allowed for update_snapshot_status`);
        if (!next.includes(a.status)) throw badRequest(`Provided snapshot status ${a.status} not allowed for snapshot with status ${r.status}.`);
        await t.run('UPDATE cinder_snapshots SET status = ?, progress = COALESCE(?, progress), updated_at = ? WHERE id = ?', [a.status, a.progress || null, nowIso(), id]);
      });
    } else {
      throw badRequest(`There is no such action: ${action}`);
    }
    return reply.code(202).send();
  });

  // ---- metadata ----

  const readMeta = async (req: FastifyRequest, id: string) => {
    const r = await visibleSnapshot(ctx.db, req.auth!, id);
    ctx.policy.authorize('volume:get_snapshot_metadata', req.auth!, target(req, r));
    return fromJson<Record<string, string>>(r.metadata, {});
  };
  /** Merges (or with replace, sets) metadata; returns the snapshot's metadata afterwards. */
  const writeMeta = async (req: FastifyRequest, id: string, md: Record<string, string>, replace: boolean) => {
    return ctx.db.tx(async (t) => {
      const r = await visibleSnapshot(t, req.auth!, id);
      ctx.policy.authorize('volume:update_snapshot_metadata', req.auth!, target(req, r));
      const next = replace ? md : { ...fromJson<Record<string, string>>(r.metadata, {}), ...md };
      await t.run('UPDATE cinder_snapshots SET metadata = ?, updated_at = ? WHERE id = ?', [toJson(next), nowIso(), id]);
      return next;
    });
  };

  app.get<{ Params: { snapshot_id: string } }>('/snapshots/:snapshot_id/metadata', async (req) => ({ metadata: await readMeta(req, req.params.snapshot_id) }));

  app.post<{ Params: { snapshot_id: string } }>('/snapshots/:snapshot_id/metadata', async (req) => {
    if (!isObj(req.body) || !('metadata' in req.body)) throw badRequest("'metadata' is a required property");
    onlyKeys(req.body, ['metadata']);
    return { metadata: await writeMeta(req, req.params.snapshot_id, metadataField(req.body.metadata), false) };
  });

  app.put<{ Params: { snapshot_id: string } }>('/snapshots/:snapshot_id/metadata', async (req) => {
    if (!isObj(req.body) || !('metadata' in req.body)) throw badRequest("'metadata' is a required property");
    onlyKeys(req.body, ['metadata']);
    return { metadata: await writeMeta(req, req.params.snapshot_id, metadataField(req.body.metadata), true) };
  });

  app.get<{ Params: { snapshot_id: string; key: string } }>('/snapshots/:snapshot_id/metadata/:key', async (req) => {
    const { snapshot_id, key } = req.params;
    const md = await readMeta(req, snapshot_id);
    if (!(key in md)) throw new ApiError(404, `Snapshot ${snapshot_id} has no metadata with key ${key}.`);
    return { meta: { [key]: md[key] } };
  });

  app.put<{ Params: { snapshot_id: string; key: string } }>('/snapshots/:snapshot_id/metadata/:key', async (req) => {
    const { snapshot_id, key } = req.params;
    if (!isObj(req.body) || !('meta' in req.body)) throw badRequest("'meta' is a required property");
    onlyKeys(req.body, ['meta']);
    const meta = metadataField(req.body.meta, 'meta');
    if (!(key in meta)) throw badRequest('Request body and URI mismatch');
    if (Object.keys(meta).length > 1) throw badRequest('Request body contains too many items');
    await writeMeta(req, snapshot_id, meta, false);
    return { meta };
  });

  app.delete<{ Params: { snapshot_id: string; key: string } }>('/snapshots/:snapshot_id/metadata/:key', async (req, reply) => {
    const { snapshot_id, key } = req.params;
    await ctx.db.tx(async (t) => {
      const r = await visibleSnapshot(t, req.auth!, snapshot_id);
      ctx.policy.authorize('volume:delete_snapshot_metadata', req.auth!, target(req, r));
      const md = fromJson<Record<string, string>>(r.metadata, {});
      if (!(key in md)) throw new ApiError(404, `Snapshot ${snapshot_id} has no metadata with key ${key}.`);
      delete md[key];
      await t.run('UPDATE cinder_snapshots SET metadata = ?, updated_at = ? WHERE id = ?', [toJson(md), nowIso(), snapshot_id]);
    });
    return reply.code(200).send();
  });
}
