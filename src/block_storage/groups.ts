// Cinder's generic volume groups: group types with group specs (3.11), groups of volumes (3.13;
// reset-status 3.20; their volume list 3.25), group snapshots and groups made from a group
// snapshot or another group (3.14; reset-status 3.19). The VMDK driver has no consistency group
// support, so groups behave as Cinder's generic implementation does on such a driver: a group is
// a database record its volumes point to; a group snapshot is one snapshot per volume, made
// by a durable task on the volume driver; a group from a source is one volume per source
// snapshot or volume, made by a durable task; deleting a group with delete-volumes deletes its
// volumes' VMDKs by a durable task too.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Migration } from '../core/db/migrate.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import type { TaskRecord } from '../core/tasks.ts';
import type { VolumeLocation } from '../core/virt.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { ApiError, badRequest, conflict } from '../core/errors.ts';
import { isUuid, nowIso, uuid } from '../core/ids.ts';
import { cinderTime } from './db.ts';
import { enforceGroupQuota, enforceVolumeQuota } from './quotas.ts';
import { assertNotFrozen } from './services.ts';
import { resolveVolumeType } from './types.ts';
import {
  allowed, collectionLinks, invalidInput, isAdmin, listRows, looseBool, optionalString, paginationParams, parseBool,
  queryOne, sortParams, validateMetadata,
} from './common.ts';
import { atLeast, requireVersion } from './microversion.ts';
import { VOLUME_AZ, destroyVolume, getVolume, realiseVolume, updateVolume, wrap } from './volumes.ts';

export const TASK_GROUP_DELETE = 'cinder.group.delete';
export const TASK_GROUP_FROM_SRC = 'cinder.group.create_from_src';
export const TASK_GROUP_SNAPSHOT_CREATE = 'cinder.group_snapshot.create';
export const TASK_GROUP_SNAPSHOT_DELETE = 'cinder.group_snapshot.delete';

export const groupMigrations: Migration[] = [{
  id: 'block-storage-021-groups',
  sql: [
    `CREATE TABLE cinder_group_types (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      description TEXT,
      is_public INTEGER NOT NULL DEFAULT 1,
      group_specs TEXT NOT NULL DEFAULT '{}',
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    `CREATE TABLE cinder_groups (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      name TEXT,
      description TEXT,
      status TEXT NOT NULL,
      availability_zone TEXT NOT NULL,
      group_type_id TEXT NOT NULL,
      volume_type_ids TEXT NOT NULL DEFAULT '[]',
      group_snapshot_id TEXT,
      source_group_id TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    'CREATE INDEX cinder_groups_project ON cinder_groups (project_id)',
    `CREATE TABLE cinder_group_snapshots (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      group_id TEXT NOT NULL,
      group_type_id TEXT NOT NULL,
      name TEXT,
      description TEXT,
      status TEXT NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    'ALTER TABLE cinder_volumes ADD COLUMN group_id TEXT',
    'ALTER TABLE cinder_snapshots ADD COLUMN group_snapshot_id TEXT',
  ].join(';\n'),
}];

const admin = 'rule:context_is_admin';
const member = 'rule:project_member_or_admin';
const reader = 'rule:project_reader_or_admin';
export const GROUP_POLICY: Record<string, string> = {
  'group:group_types:create': admin, 'group:group_types:update': admin, 'group:group_types:delete': admin,
  'group:access_group_types_specs': admin,
  'group:group_types_specs:get': admin, 'group:group_types_specs:get_all': admin, 'group:group_types_specs:create': admin,
  'group:group_types_specs:update': admin, 'group:group_types_specs:delete': admin,
  'group:create': member, 'group:get': reader, 'group:get_all': reader, 'group:update': member, 'group:delete': member,
  'group:reset_status': admin,
  'group:create_group_snapshot': member, 'group:get_group_snapshot': reader, 'group:get_all_group_snapshots': reader,
  'group:update_group_snapshot': member, 'group:delete_group_snapshot': member, 'group:reset_group_snapshot_status': admin,
};

const GROUP_STATUSES = ['error', 'available', 'creating', 'deleting', 'deleted', 'updating', 'in-use', 'error_deleting'];
const GROUP_SNAPSHOT_STATUSES = ['error', 'available', 'creating', 'deleting', 'deleted', 'updating', 'error_deleting'];
const SORT_KEYS = ['id', 'name', 'status', 'created_at', 'updated_at', 'description', 'availability_zone', 'project_id', 'group_type_id'];

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

function onlyKeys(b: Record<string, unknown>, keys: string[]) {
  for (const k of Object.keys(b)) if (!keys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
}

function bodyOf(req: FastifyRequest, key: string): Record<string, any> {
  const b = req.body;
  if (!isObj(b) || !(key in b)) throw badRequest(`Invalid input for field/attribute ${key}. '${key}' is a required property`);
  onlyKeys(b, [key]);
  if (!isObj(b[key])) throw badRequest(`Invalid input for field/attribute ${key}. Value: ${JSON.stringify(b[key])}. ${JSON.stringify(b[key])} is not of type 'object'`);
  return b[key];
}

function uuidField(v: unknown, field: string): string {
  if (typeof v !== 'string' || !isUuid(v)) throw badRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(v)}. ${JSON.stringify(v)} is not a 'uuid'`);
  return v;
}

const trimmed = (v: string | null | undefined) => (v ? v.trim() : v ?? null);

// ---- group types (3.11) -------------------------------------------------------------------

interface GroupTypeRow { id: string; name: string; description: string | null; is_public: boolean; group_specs: Record<string, string> }

const toGroupType = (r: any): GroupTypeRow => ({ id: r.id, name: r.name, description: r.description ?? null, is_public: bool(r.is_public), group_specs: fromJson(r.group_specs, {}) });
const groupTypeNotFound = (id: string) => new ApiError(404, `Group type ${id} could not be found.`);

async function groupTypeById(q: Queryable, id: string): Promise<GroupTypeRow | null> {
  const r = await q.get('SELECT * FROM cinder_group_types WHERE id = ?', [id]);
  return r ? toGroupType(r) : null;
}

/** A group type by id, else by name (a uuid-like name too), as group.api.API.create looks it up. */
async function groupTypeByNameOrId(q: Queryable, ref: string): Promise<GroupTypeRow> {
  const r = (isUuid(ref) ? await groupTypeById(q, ref) : null)
    ?? await q.get('SELECT * FROM cinder_group_types WHERE name = ?', [ref]).then((x) => (x ? toGroupType(x) : null));
  if (!r) throw isUuid(ref) ? groupTypeNotFound(ref) : new ApiError(404, `Group type with name ${ref} could not be found.`);
  return r;
}

function groupTypeView(ctx: Context, req: FastifyRequest, t: GroupTypeRow) {
  const out: Record<string, unknown> = { id: t.id, name: t.name, description: t.description, is_public: t.is_public };
  if (allowed(ctx, req, 'group:access_group_types_specs')) out.group_specs = t.group_specs;
  return out;
}

function specsField(v: unknown, field = 'group_specs'): Record<string, string> {
  return validateMetadata(v, field);
}

async function groupTypeRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/group_types', async (req) => {
    requireVersion(req, '3.11');
    const page = paginationParams(req);
    const sort = sortParams(req, ['id', 'name', 'description', 'is_public', 'created_at', 'updated_at']);
    const where: string[] = [];
    const params: unknown[] = [];
    // Admins may ask for private ones too (is_public=None: all); others see public types only.
    if (isAdmin(ctx, req)) {
      const raw = queryOne(req, 'is_public');
      if (raw !== undefined && raw.toLowerCase() !== 'none') { where.push('is_public = ?'); params.push(parseBool(raw, 'is_public') ? 1 : 0); }
      else if (raw === undefined) where.push('is_public = 1');
    } else where.push('is_public = 1');
    const rows = await listRows(ctx.db, {
      from: 'cinder_group_types', where, params: params as any[], sort, page, markerNotFound: (m) => groupTypeNotFound(m),
    });
    const types = rows.map(toGroupType);
    const out: Record<string, unknown> = { group_types: types.map((t) => groupTypeView(ctx, req, t)) };
    const links = collectionLinks(ctx, req, 'group_types', types, page);
    if (links) out.group_type_links = links;
    return out;
  });

  app.get<{ Params: { id: string } }>('/group_types/:id', async (req) => {
    requireVersion(req, '3.11');
    // No default_group_type is configured on this cloud, as Cinder's default.
    if (req.params.id === 'default') throw new ApiError(404, 'Default group type can not be found.');
    const t = await groupTypeById(ctx.db, req.params.id);
    if (!t) throw groupTypeNotFound(req.params.id);
    return { group_type: groupTypeView(ctx, req, t) };
  });

  app.post('/group_types', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.11');
    const b = bodyOf(req, 'group_type');
    onlyKeys(b, ['name', 'description', 'is_public', 'group_specs']);
    if (!('name' in b)) throw badRequest("Invalid input for field/attribute group_type. 'name' is a required property");
    const name = optionalString(b.name, 'name');
    if (!name || !name.trim()) throw badRequest(`Invalid input for field/attribute name. Value: ${JSON.stringify(b.name)}. ${JSON.stringify(b.name)} is too short`);
    const description = optionalString(b.description, 'description', 255) ?? null;
    const isPublic = b.is_public === undefined ? true : parseBool(b.is_public, 'is_public');
    const specs = b.group_specs === undefined || b.group_specs === null ? {} : specsField(b.group_specs);
    ctx.policy.authorize('group:group_types:create', req.auth!, {});
    const id = uuid();
    await ctx.db.tx(async (t) => {
      await t.lock('cinder:group_types');
      if (await t.get('SELECT id FROM cinder_group_types WHERE name = ?', [name])) throw conflict(`Group Type ${name} already exists.`);
      const ts = nowIso();
      await t.run('INSERT INTO cinder_group_types (id, name, description, is_public, group_specs, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [id, name, description, isPublic, toJson(specs), ts, ts]);
    });
    reply.code(202);
    return { group_type: groupTypeView(ctx, req, (await groupTypeById(ctx.db, id))!) };
  });

  app.put<{ Params: { id: string } }>('/group_types/:id', async (req) => {
    requireVersion(req, '3.11');
    const b = bodyOf(req, 'group_type');
    onlyKeys(b, ['name', 'description', 'is_public']);
    const name = optionalString(b.name, 'name');
    const description = optionalString(b.description, 'description', 255);
    const isPublic = b.is_public === undefined || b.is_public === null ? undefined : parseBool(b.is_public, 'is_public');
    ctx.policy.authorize('group:group_types:update', req.auth!, {});
    if (name !== undefined && name !== null && !name.trim()) throw badRequest('Group type name can not be empty.');
    if ((name === undefined || name === null) && (description === undefined || description === null) && isPublic === undefined) {
      throw badRequest('Specify group type name, description or a combination thereof.');
    }
    await ctx.db.tx(async (t) => {
      await t.lock('cinder:group_types');
      const cur = await groupTypeById(t, req.params.id);
      if (!cur) throw groupTypeNotFound(req.params.id);
      if (name && name !== cur.name && await t.get('SELECT id FROM cinder_group_types WHERE name = ?', [name])) throw conflict(`Group Type ${name} already exists.`);
      await t.run('UPDATE cinder_group_types SET name = ?, description = ?, is_public = ?, updated_at = ? WHERE id = ?',
        [name ?? cur.name, description ?? cur.description, isPublic ?? cur.is_public, nowIso(), cur.id]);
    });
    return { group_type: groupTypeView(ctx, req, (await groupTypeById(ctx.db, req.params.id))!) };
  });

  app.delete<{ Params: { id: string } }>('/group_types/:id', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.11');
    ctx.policy.authorize('group:group_types:delete', req.auth!, {});
    await ctx.db.tx(async (t) => {
      await t.lock('cinder:group_types');
      const cur = await groupTypeById(t, req.params.id);
      if (!cur) throw groupTypeNotFound(req.params.id);
      if (await t.get("SELECT id FROM cinder_groups WHERE group_type_id = ? AND status <> 'deleted' LIMIT 1", [cur.id])) {
        throw badRequest('Target group type is still in use.');
      }
      await t.run('DELETE FROM cinder_group_types WHERE id = ?', [cur.id]);
    });
    return reply.code(202).send();
  });

  // ---- group specs ----
  const specType = async (req: FastifyRequest, rule: string, q: Queryable = ctx.db) => {
    requireVersion(req, '3.11');
    ctx.policy.authorize(rule, req.auth!, {});
    const { id } = req.params as { id: string };
    const t = await groupTypeById(q, id);
    if (!t) throw groupTypeNotFound(id);
    return t;
  };
  const writeSpecs = (id: string, fn: (s: Record<string, string>) => Record<string, string>) => ctx.db.tx(async (t) => {
    await t.lock('cinder:group_types');
    const cur = await groupTypeById(t, id);
    if (!cur) throw groupTypeNotFound(id);
    await t.run('UPDATE cinder_group_types SET group_specs = ?, updated_at = ? WHERE id = ?', [toJson(fn({ ...cur.group_specs })), nowIso(), id]);
  });
  app.get('/group_types/:id/group_specs', async (req) => ({ group_specs: (await specType(req, 'group:group_types_specs:get_all')).group_specs }));
  app.post<{ Params: { id: string } }>('/group_types/:id/group_specs', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.11');
    const specs = specsField(bodyOf(req, 'group_specs'));
    await specType(req, 'group:group_types_specs:create');
    await writeSpecs(req.params.id, (s) => ({ ...s, ...specs }));
    reply.code(202);
    return { group_specs: specs };
  });
  app.get<{ Params: { id: string; key: string } }>('/group_types/:id/group_specs/:key', async (req) => {
    const t = await specType(req, 'group:group_types_specs:get');
    if (!(req.params.key in t.group_specs)) throw new ApiError(404, `Group Type ${t.id} has no extra spec with key ${req.params.key}.`);
    return { [req.params.key]: t.group_specs[req.params.key] };
  });
  app.put<{ Params: { id: string; key: string } }>('/group_types/:id/group_specs/:key', async (req) => {
    requireVersion(req, '3.11');
    const b = req.body;
    if (!isObj(b) || Object.keys(b).length !== 1) throw badRequest('Invalid input for field/attribute body. The body must hold exactly one group spec.');
    const specs = specsField(b, 'body');
    await specType(req, 'group:group_types_specs:update');
    if (!(req.params.key in specs)) throw badRequest('Request body and URI mismatch');
    await writeSpecs(req.params.id, (s) => ({ ...s, ...specs }));
    return specs;
  });
  app.delete<{ Params: { id: string; key: string } }>('/group_types/:id/group_specs/:key', async (req, reply: FastifyReply) => {
    const t = await specType(req, 'group:group_types_specs:delete');
    if (!(req.params.key in t.group_specs)) throw new ApiError(404, `Group Type ${t.id} has no specs with key ${req.params.key}.`);
    await writeSpecs(t.id, (s) => { delete s[req.params.key]; return s; });
    return reply.code(202).send();
  });
}

// ---- groups (3.13) ------------------------------------------------------------------------

interface GroupRow {
  id: string; project_id: string; user_id: string; name: string | null; description: string | null; status: string;
  availability_zone: string; group_type_id: string; volume_type_ids: string[]; group_snapshot_id: string | null;
  source_group_id: string | null; created_at: string; updated_at: string;
}

const toGroup = (r: any): GroupRow => ({ ...r, volume_type_ids: fromJson(r.volume_type_ids, []) });
const groupNotFound = (id: string) => new ApiError(404, `Group ${id} could not be found.`);
const invalidGroup = (reason: string) => badRequest(`Invalid group: ${reason}`);

async function groupRow(q: Queryable, id: string, lock = ''): Promise<GroupRow | null> {
  if (!isUuid(id)) return null;
  const r = await q.get(`SELECT * FROM cinder_groups WHERE id = ?${lock}`, [id]);
  return r ? toGroup(r) : null;
}

/** The group as the caller may see it (its project's, any for admins), else 404; then `rule`. */
async function findGroup(ctx: Context, req: FastifyRequest, id: string, rule: string, q: Queryable = ctx.db, lock = ''): Promise<GroupRow> {
  const g = await groupRow(q, id, lock);
  if (!g || (g.project_id !== req.auth!.projectId && !isAdmin(ctx, req))) throw groupNotFound(id);
  ctx.policy.authorize(rule, req.auth!, { project_id: g.project_id, user_id: g.user_id });
  return g;
}

async function groupVolumes(q: Queryable, groupId: string): Promise<{ id: string; status: string; attach_status: string }[]> {
  return q.all("SELECT id, status, attach_status FROM cinder_volumes WHERE group_id = ? ORDER BY created_at, id", [groupId]);
}

async function groupDetail(ctx: Context, req: FastifyRequest, g: GroupRow) {
  const out: Record<string, unknown> = {
    id: g.id, status: g.status, availability_zone: g.availability_zone, created_at: cinderTime(g.created_at), name: g.name,
    description: g.description, group_type: g.group_type_id, volume_types: g.volume_type_ids,
  };
  if (atLeast(req, '3.14')) { out.group_snapshot_id = g.group_snapshot_id; out.source_group_id = g.source_group_id; }
  if (atLeast(req, '3.25') && looseBool(queryOne(req, 'list_volume') ?? 'false')) out.volumes = (await groupVolumes(ctx.db, g.id)).map((v) => v.id);
  return out;
}

const groupSummary = (g: { id: string; name: string | null }) => ({ id: g.id, name: g.name });

/** Checks the names of a group's volume types (ids or names) and returns their ids. */
async function volumeTypeIds(t: Tx, req: FastifyRequest, refs: unknown): Promise<string[]> {
  if (!Array.isArray(refs) || refs.length < 1) throw badRequest(`Invalid input for field/attribute volume_types. Value: ${JSON.stringify(refs)}. ${JSON.stringify(refs)} is too short`);
  if (new Set(refs).size !== refs.length) throw badRequest(`Invalid input for field/attribute volume_types. Value: ${JSON.stringify(refs)}. ${JSON.stringify(refs)} has non-unique elements`);
  const ids: string[] = [];
  for (const r of refs) {
    if (typeof r !== 'string' || r.length > 255) throw badRequest(`Invalid input for field/attribute volume_types. Value: ${JSON.stringify(refs)}. ${JSON.stringify(r)} is not of type 'string'`);
    ids.push((await resolveVolumeType(t, req.auth!, r)).id);
  }
  return ids;
}

async function insertGroup(t: Tx, g: Omit<GroupRow, 'created_at' | 'updated_at'>) {
  const ts = nowIso();
  await t.run(`INSERT INTO cinder_groups (id, project_id, user_id, name, description, status, availability_zone, group_type_id, volume_type_ids,
      group_snapshot_id, source_group_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  [g.id, g.project_id, g.user_id, g.name, g.description, g.status, g.availability_zone, g.group_type_id, toJson(g.volume_type_ids),
    g.group_snapshot_id, g.source_group_id, ts, ts]);
}

async function listGroups(ctx: Context, req: FastifyRequest, detail: boolean) {
  requireVersion(req, '3.13');
  ctx.policy.authorize('group:get_all', req.auth!, { project_id: req.auth!.projectId });
  const page = paginationParams(req);
  const sort = sortParams(req, SORT_KEYS);
  const where: string[] = [];
  const params: string[] = [];
  const admin = isAdmin(ctx, req);
  if (!(admin && looseBool(queryOne(req, 'all_tenants') ?? 'false'))) { where.push('project_id = ?'); params.push(req.auth!.projectId ?? ''); }
  for (const k of ['name', 'status', 'group_type_id', 'availability_zone']) {
    const v = queryOne(req, k);
    if (v !== undefined) { where.push(`${k} = ?`); params.push(v); }
  }
  const rows = (await listRows(ctx.db, { from: 'cinder_groups', where, params, sort, page, markerNotFound: groupNotFound })).map(toGroup);
  const out: Record<string, unknown> = { groups: detail ? await Promise.all(rows.map((g) => groupDetail(ctx, req, g))) : rows.map(groupSummary) };
  const links = collectionLinks(ctx, req, detail ? 'groups/detail' : 'groups', rows, page);
  if (links) out.group_links = links;
  return out;
}

async function groupRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/groups', async (req) => listGroups(ctx, req, false));
  app.get('/groups/detail', async (req) => listGroups(ctx, req, true));
  app.get<{ Params: { id: string } }>('/groups/:id', async (req) => {
    requireVersion(req, '3.13');
    const g = await findGroup(ctx, req, req.params.id, 'group:get');
    return { group: await groupDetail(ctx, req, g) };
  });

  app.post('/groups', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.13');
    const b = bodyOf(req, 'group');
    onlyKeys(b, ['description', 'group_type', 'name', 'volume_types', 'availability_zone']);
    for (const k of ['group_type', 'volume_types']) if (!(k in b)) throw badRequest(`Invalid input for field/attribute group. '${k}' is a required property`);
    if (typeof b.group_type !== 'string' || !b.group_type) throw badRequest(`Invalid input for field/attribute group_type. Value: ${JSON.stringify(b.group_type)}. ${JSON.stringify(b.group_type)} is not a 'group_type'`);
    const name = trimmed(optionalString(b.name, 'name'));
    const description = trimmed(optionalString(b.description, 'description', 255));
    const az = optionalString(b.availability_zone, 'availability_zone');
    ctx.policy.authorize('group:create', req.auth!, { project_id: req.auth!.projectId });
    if (az && az !== VOLUME_AZ) throw invalidInput(`Availability zone '${az}' is invalid.`);
    const id = uuid();
    await ctx.db.tx(async (t) => {
      const types = await volumeTypeIds(t, req, b.volume_types);
      const gt = await groupTypeByNameOrId(t, b.group_type);
      await enforceGroupQuota(t, req.auth!.projectId!);
      // No backend work: Cinder's generic group on a driver without group support is available at once.
      await insertGroup(t, {
        id, project_id: req.auth!.projectId!, user_id: req.auth!.userId, name, description, status: 'available', availability_zone: VOLUME_AZ,
        group_type_id: gt.id, volume_type_ids: types, group_snapshot_id: null, source_group_id: null,
      });
    });
    reply.code(202);
    return { group: { id, name } };
  });

  app.put<{ Params: { id: string } }>('/groups/:id', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.13');
    const b = bodyOf(req, 'group');
    onlyKeys(b, ['description', 'name', 'add_volumes', 'remove_volumes']);
    let name = trimmed(optionalString(b.name, 'name'));
    let description = trimmed(optionalString(b.description, 'description', 255));
    const list = (k: string) => {
      const v = optionalString(b[k], k, 65535);
      return v ? v.replace(/^,+|,+$/g, '').split(',').filter(Boolean) : [];
    };
    const add = list('add_volumes');
    const remove = list('remove_volumes');
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:group:${req.params.id}`);
      const g = await findGroup(ctx, req, req.params.id, 'group:update', t, t.forUpdate);
      if (name === g.name) name = null;
      if (description === g.description) description = null;
      const both = add.filter((x) => remove.includes(x));
      if (both.length) throw badRequest(`Invalid volume: UUIDs ${pyList(both)} are in both add and remove volume list.`);
      const members = await groupVolumes(t, g.id);
      const adding: string[] = [];
      for (const vid of add) {
        if (members.some((m) => m.id === vid)) continue;
        const v = await getVolume(t, vid);
        const no = (why: string) => badRequest(`Invalid volume: Cannot add volume ${vid} to group ${g.id} ${why}`);
        if (!v) throw no('because volume cannot be found.');
        if (v.group_id) throw no(`because it is already in group ${v.group_id}.`);
        if (v.project_id !== g.project_id) throw no('as they belong to different projects.');
        if (!g.volume_type_ids.includes(v.volume_type_id)) throw no(`because volume type ${v.volume_type_id} is not supported by the group.`);
        if (v.status !== 'available' && v.status !== 'in-use') throw no(`because volume is in an invalid state: ${v.status}. Valid states are: ('available', 'in-use').`);
        adding.push(v.id);
      }
      const removing: string[] = [];
      for (const vid of remove) {
        const m = members.find((x) => x.id === vid);
        if (!m) throw badRequest(`Invalid volume: Cannot remove volume ${vid} from group ${g.id} because it is not in the group.`);
        if (!['available', 'in-use', 'error', 'error_deleting'].includes(m.status)) {
          throw badRequest(`Invalid volume: Cannot remove volume ${vid} from group ${g.id} because volume is in an invalid state: ${m.status}. Valid states are: ('available', 'in-use', 'error', 'error_deleting').`);
        }
        removing.push(vid);
      }
      if (name === null && description === null && !adding.length && !removing.length) {
        throw invalidGroup(`Cannot update group ${g.id} because no valid name, description, add_volumes, or remove_volumes were provided.`);
      }
      if ((adding.length || removing.length) && g.status !== 'available') throw invalidGroup('Group status must be available.');
      // The generic update only re-points the volumes: done at once, the group stays available.
      for (const vid of adding) await updateVolume(t, vid, { group_id: g.id });
      for (const vid of removing) await updateVolume(t, vid, { group_id: null });
      await t.run('UPDATE cinder_groups SET name = ?, description = ?, status = ?, updated_at = ? WHERE id = ?',
        [name ?? g.name, description ?? g.description, 'available', nowIso(), g.id]);
    });
    return reply.code(202).send();
  });

  // Collection action: create-from-src (3.14).
  app.post('/groups/action', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.14');
    const b = bodyOf(req, 'create-from-src');
    onlyKeys(b, ['description', 'name', 'source_group_id', 'group_snapshot_id']);
    const hasSnap = 'group_snapshot_id' in b;
    const hasGroup = 'source_group_id' in b;
    if (hasSnap === hasGroup) throw badRequest(`Invalid input for field/attribute create-from-src. Value: ${JSON.stringify(b)}. ${JSON.stringify(b)} is valid under each of {'required': ['source_group_id']}, {'required': ['group_snapshot_id']}`);
    const srcId = uuidField(hasSnap ? b.group_snapshot_id : b.source_group_id, hasSnap ? 'group_snapshot_id' : 'source_group_id');
    const name = trimmed(optionalString(b.name, 'name'));
    const description = trimmed(optionalString(b.description, 'description', 255));
    ctx.policy.authorize('group:create', req.auth!, { project_id: req.auth!.projectId });
    const id = uuid();
    await ctx.db.tx(async (t) => {
      await assertNotFrozen(t);
      let groupTypeId: string;
      let typeIds: string[];
      // One new volume per source: a snapshot of the group snapshot, or a volume of the group.
      const sources: { size: number; volumeTypeId: string; snapshotId: string | null; sourceVolid: string | null; bootable: boolean; imageMeta: string }[] = [];
      if (hasSnap) {
        const gs = await findGroupSnapshot(ctx, req, srcId, 'group:get_group_snapshot', t);
        if (gs.status !== 'available') throw invalidGroup(`Group snapshot ${gs.id} status must be available, but current status is: ${gs.status}.`);
        const src = await groupRow(t, gs.group_id);
        groupTypeId = gs.group_type_id;
        typeIds = src?.volume_type_ids ?? [];
        const snaps = await t.all(`SELECT s.id, s.size, v.volume_type_id, v.bootable, v.image_metadata FROM cinder_snapshots s
          JOIN cinder_volumes v ON v.id = s.volume_id WHERE s.group_snapshot_id = ? ORDER BY s.created_at, s.id`, [gs.id]);
        if (!snaps.length) throw invalidGroup('Group snapshot is empty. No group will be created.');
        for (const s of snaps) sources.push({ size: Number(s.size), volumeTypeId: s.volume_type_id, snapshotId: s.id, sourceVolid: null, bootable: bool(s.bootable), imageMeta: s.image_metadata });
      } else {
        const src = await findGroup(ctx, req, srcId, 'group:get', t);
        if (src.status !== 'available') throw invalidGroup(`Source group ${src.id} status must be available, but current status is: ${src.status}.`);
        groupTypeId = src.group_type_id;
        typeIds = src.volume_type_ids;
        const vols = await t.all('SELECT id, size, volume_type_id, status, bootable, image_metadata FROM cinder_volumes WHERE group_id = ? ORDER BY created_at, id', [src.id]);
        if (!vols.length) throw invalidGroup('Source Group is empty. No group will be created.');
        for (const v of vols) {
          if (v.status !== 'available' && v.status !== 'in-use') throw badRequest(`Invalid volume: Volume ${v.id} status must be available or in-use, but current status is: ${v.status}.`);
          sources.push({ size: Number(v.size), volumeTypeId: v.volume_type_id, snapshotId: null, sourceVolid: v.id, bootable: bool(v.bootable), imageMeta: v.image_metadata });
        }
      }
      await enforceGroupQuota(t, req.auth!.projectId!);
      await insertGroup(t, {
        id, project_id: req.auth!.projectId!, user_id: req.auth!.userId, name, description, status: 'creating', availability_zone: VOLUME_AZ,
        group_type_id: groupTypeId, volume_type_ids: typeIds, group_snapshot_id: hasSnap ? srcId : null, source_group_id: hasGroup ? srcId : null,
      });
      const ts = nowIso();
      for (const s of sources) {
        const type = await t.get('SELECT name FROM cinder_volume_types WHERE id = ?', [s.volumeTypeId]);
        await enforceVolumeQuota(t, req.auth!.projectId!, { volumes: 1, gigabytes: s.size, volumeType: type?.name });
        await t.run(
          `INSERT INTO cinder_volumes (id, project_id, user_id, name, description, size, status, attach_status, availability_zone,
            volume_type_id, bootable, readonly, multiattach, snapshot_id, source_volid, image_id, metadata, image_metadata, location,
            previous_status, launched_at, created_at, updated_at, group_id)
           VALUES (?, ?, ?, NULL, NULL, ?, 'creating', 'detached', ?, ?, ?, NULL, ?, ?, ?, NULL, '{}', ?, NULL, NULL, NULL, ?, ?, ?)`,
          [uuid(), req.auth!.projectId!, req.auth!.userId, s.size, VOLUME_AZ, s.volumeTypeId, s.bootable, false, s.snapshotId, s.sourceVolid,
            s.imageMeta ?? '{}', ts, ts, id]);
      }
      await ctx.tasks.enqueue(t, TASK_GROUP_FROM_SRC, { groupId: id }, { resourceId: id });
    });
    reply.code(202);
    return { group: { id, name } };
  });

  app.post<{ Params: { id: string } }>('/groups/:id/action', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.13');
    const body = req.body;
    const action = isObj(body) && Object.keys(body).length === 1 ? Object.keys(body)[0] : undefined;
    if (action === 'delete') {
      const a = bodyOf(req, 'delete');
      onlyKeys(a, ['delete-volumes']);
      const withVolumes = a['delete-volumes'] === undefined ? false : parseBool(a['delete-volumes'], 'delete-volumes');
      await ctx.db.tx(async (t) => {
        await t.lock(`cinder:group:${req.params.id}`);
        const g = await findGroup(ctx, req, req.params.id, 'group:delete', t, t.forUpdate);
        await assertNotFrozen(t);
        if (!withVolumes && g.status !== 'available' && g.status !== 'error') {
          throw invalidGroup(`Group status must be available or error, but current status is: ${g.status}`);
        }
        if (await t.get('SELECT id FROM cinder_group_snapshots WHERE group_id = ? LIMIT 1', [g.id])) throw invalidGroup('Group has existing snapshots.');
        const vols = await groupVolumes(t, g.id);
        if (vols.length && !withVolumes) throw invalidGroup(`Group ${g.id} still contains volumes. The delete-volumes flag is required to delete it.`);
        for (const v of vols) {
          if (v.attach_status === 'attached' || v.status === 'in-use') throw invalidGroup(`Volume in group ${g.id} is attached. Need to detach first.`);
          if (await t.get('SELECT id FROM cinder_snapshots WHERE volume_id = ? LIMIT 1', [v.id])) throw invalidGroup('Volume in group still has dependent snapshots.');
        }
        if (await t.get("SELECT id FROM cinder_groups WHERE (source_group_id = ? OR group_snapshot_id IN (SELECT id FROM cinder_group_snapshots WHERE group_id = ?)) AND status = 'creating' LIMIT 1", [g.id, g.id])) {
          throw invalidGroup(`Cannot delete group ${g.id}. Group status must be available or error and must not have dependent group snapshots, and it cannot be the source for an ongoing group or group snapshot creation.`);
        }
        for (const v of vols) await updateVolume(t, v.id, { status: 'deleting', previous_status: v.status });
        await t.run("UPDATE cinder_groups SET status = 'deleting', updated_at = ? WHERE id = ?", [nowIso(), g.id]);
        await ctx.tasks.enqueue(t, TASK_GROUP_DELETE, { groupId: g.id }, { resourceId: g.id });
      });
      return reply.code(202).send();
    }
    if (action === 'reset_status') {
      requireVersion(req, '3.20');
      const a = bodyOf(req, 'reset_status');
      onlyKeys(a, ['status']);
      if (!('status' in a)) throw badRequest("Invalid input for field/attribute reset_status. 'status' is a required property");
      const status = typeof a.status === 'string' ? a.status.toLowerCase() : '';
      if (!GROUP_STATUSES.includes(status)) throw badRequest(`Invalid input for field/attribute status. Value: ${JSON.stringify(a.status)}. ${JSON.stringify(a.status)} is not a 'group_status'`);
      const g = await findGroup(ctx, req, req.params.id, 'group:reset_status');
      await ctx.db.run('UPDATE cinder_groups SET status = ?, updated_at = ? WHERE id = ?', [status, nowIso(), g.id]);
      return reply.code(202).send();
    }
    throw badRequest(`There is no such action: ${action ?? 'None'}`);
  });
}

/** Python's repr of a list of strings, as Cinder's messages show them. */
const pyList = (xs: string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;

// ---- group snapshots (3.14) ---------------------------------------------------------------

interface GroupSnapshotRow {
  id: string; project_id: string; user_id: string; group_id: string; group_type_id: string; name: string | null;
  description: string | null; status: string; created_at: string; updated_at: string;
}

const groupSnapshotNotFound = (id: string) => new ApiError(404, `GroupSnapshot ${id} could not be found.`);

async function findGroupSnapshot(ctx: Context, req: FastifyRequest, id: string, rule: string, q: Queryable = ctx.db, lock = ''): Promise<GroupSnapshotRow> {
  const r = isUuid(id) ? await q.get<GroupSnapshotRow>(`SELECT * FROM cinder_group_snapshots WHERE id = ?${lock}`, [id]) : undefined;
  if (!r || (r.project_id !== req.auth!.projectId && !isAdmin(ctx, req))) throw groupSnapshotNotFound(id);
  ctx.policy.authorize(rule, req.auth!, { project_id: r.project_id, user_id: r.user_id });
  return r;
}

const groupSnapshotDetail = (r: GroupSnapshotRow) => ({
  id: r.id, group_id: r.group_id, group_type_id: r.group_type_id, status: r.status, created_at: cinderTime(r.created_at), name: r.name, description: r.description,
});
const groupSnapshotSummary = (r: GroupSnapshotRow) => ({ id: r.id, name: r.name, group_type_id: r.group_type_id });

async function groupSnapshotRoutes(app: FastifyInstance, ctx: Context) {
  const list = (detail: boolean) => async (req: FastifyRequest) => {
    requireVersion(req, '3.14');
    ctx.policy.authorize('group:get_all_group_snapshots', req.auth!, { project_id: req.auth!.projectId });
    const page = paginationParams(req);
    const sort = sortParams(req, ['id', 'name', 'status', 'created_at', 'updated_at', 'group_id', 'project_id', 'description']);
    const where: string[] = [];
    const params: string[] = [];
    if (!(isAdmin(ctx, req) && queryOne(req, 'all_tenants') !== undefined)) { where.push('project_id = ?'); params.push(req.auth!.projectId ?? ''); }
    for (const k of ['name', 'status', 'group_id']) {
      const v = queryOne(req, k);
      if (v !== undefined) { where.push(`${k} = ?`); params.push(v); }
    }
    const rows = await listRows<GroupSnapshotRow>(ctx.db, { from: 'cinder_group_snapshots', where, params, sort, page, markerNotFound: groupSnapshotNotFound });
    const out: Record<string, unknown> = { group_snapshots: rows.map(detail ? groupSnapshotDetail : groupSnapshotSummary) };
    const links = collectionLinks(ctx, req, detail ? 'group_snapshots/detail' : 'group_snapshots', rows, page);
    if (links) out.group_snapshot_links = links;
    return out;
  };
  app.get('/group_snapshots', list(false));
  app.get('/group_snapshots/detail', list(true));
  app.get<{ Params: { id: string } }>('/group_snapshots/:id', async (req) => {
    requireVersion(req, '3.14');
    return { group_snapshot: groupSnapshotDetail(await findGroupSnapshot(ctx, req, req.params.id, 'group:get_group_snapshot')) };
  });

  app.post('/group_snapshots', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.14');
    const b = bodyOf(req, 'group_snapshot');
    onlyKeys(b, ['group_id', 'name', 'description']);
    if (!('group_id' in b)) throw badRequest("Invalid input for field/attribute group_snapshot. 'group_id' is a required property");
    const groupId = uuidField(b.group_id, 'group_id');
    const name = trimmed(optionalString(b.name, 'name'));
    const description = trimmed(optionalString(b.description, 'description', 255));
    const id = uuid();
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:group:${groupId}`);
      const g = await findGroup(ctx, req, groupId, 'group:get', t, t.forUpdate);
      ctx.policy.authorize('group:create_group_snapshot', req.auth!, { project_id: g.project_id, user_id: g.user_id });
      await assertNotFrozen(t);
      if (g.status !== 'available') throw invalidGroup(`Group ${g.id} status must be available, but current status is: ${g.status}.`);
      const vols = await t.all('SELECT id, size, status, volume_type_id FROM cinder_volumes WHERE group_id = ? ORDER BY created_at, id', [g.id]);
      const ts = nowIso();
      await t.run(`INSERT INTO cinder_group_snapshots (id, project_id, user_id, group_id, group_type_id, name, description, status, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, ?)`, [id, g.project_id, req.auth!.userId, g.id, g.group_type_id, name, description, ts, ts]);
      for (const v of vols) {
        if (v.status !== 'available' && v.status !== 'in-use') {
          throw badRequest(`Invalid volume: Volume ${v.id} status must be available or in-use, but current status is: ${v.status}.`);
        }
        const type = await t.get('SELECT name FROM cinder_volume_types WHERE id = ?', [v.volume_type_id]);
        await enforceVolumeQuota(t, g.project_id, { snapshots: 1, gigabytes: Number(v.size), volumeType: type?.name });
        await t.run(`INSERT INTO cinder_snapshots (id, project_id, user_id, volume_id, name, description, size, status, metadata, location, progress, created_at, updated_at, group_snapshot_id)
          VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', '{}', NULL, '0%', ?, ?, ?)`, [uuid(), g.project_id, req.auth!.userId, v.id, name, description, Number(v.size), ts, ts, id]);
      }
      await ctx.tasks.enqueue(t, TASK_GROUP_SNAPSHOT_CREATE, { groupSnapshotId: id }, { resourceId: id });
    });
    reply.code(202);
    return { group_snapshot: { id, name, group_type_id: (await groupRow(ctx.db, groupId))!.group_type_id } };
  });

  app.delete<{ Params: { id: string } }>('/group_snapshots/:id', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.14');
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:group_snapshot:${req.params.id}`);
      const gs = await findGroupSnapshot(ctx, req, req.params.id, 'group:delete_group_snapshot', t, t.forUpdate);
      await assertNotFrozen(t);
      const busy = await t.get("SELECT id FROM cinder_groups WHERE group_snapshot_id = ? AND status = 'creating' LIMIT 1", [gs.id]);
      if ((gs.status !== 'available' && gs.status !== 'error') || busy) {
        throw badRequest('Invalid GroupSnapshot: GroupSnapshot status must be available or error, and no Group can be currently using it as source for its creation.');
      }
      await t.run("UPDATE cinder_snapshots SET status = 'deleting', updated_at = ? WHERE group_snapshot_id = ?", [nowIso(), gs.id]);
      await t.run("UPDATE cinder_group_snapshots SET status = 'deleting', updated_at = ? WHERE id = ?", [nowIso(), gs.id]);
      await ctx.tasks.enqueue(t, TASK_GROUP_SNAPSHOT_DELETE, { groupSnapshotId: gs.id }, { resourceId: gs.id });
    });
    return reply.code(202).send();
  });

  app.post<{ Params: { id: string } }>('/group_snapshots/:id/action', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.14');
    const body = req.body;
    const action = isObj(body) && Object.keys(body).length === 1 ? Object.keys(body)[0] : undefined;
    if (action !== 'reset_status') throw badRequest(`There is no such action: ${action ?? 'None'}`);
    requireVersion(req, '3.19');
    const a = bodyOf(req, 'reset_status');
    onlyKeys(a, ['status']);
    if (!('status' in a)) throw badRequest("Invalid input for field/attribute reset_status. 'status' is a required property");
    const status = typeof a.status === 'string' ? a.status.toLowerCase() : '';
    if (!GROUP_SNAPSHOT_STATUSES.includes(status)) throw badRequest(`Invalid input for field/attribute status. Value: ${JSON.stringify(a.status)}. ${JSON.stringify(a.status)} is not a 'group_snapshot_status'`);
    const gs = await findGroupSnapshot(ctx, req, req.params.id, 'group:reset_group_snapshot_status');
    await ctx.db.run('UPDATE cinder_group_snapshots SET status = ?, updated_at = ? WHERE id = ?', [status, nowIso(), gs.id]);
    return reply.code(202).send();
  });
}

// ---- tasks --------------------------------------------------------------------------------

export function registerGroupTasks(ctx: Context) {
  // Deleting a group: its volumes (marked deleting by the API) lose their VMDKs, then the group goes.
  ctx.tasks.register(TASK_GROUP_DELETE, {
    async run(task: TaskRecord) {
      const g = await groupRow(ctx.db, task.payload.groupId);
      if (!g || g.status !== 'deleting') return;
      for (const v of await groupVolumes(ctx.db, g.id)) if (v.status === 'deleting') await destroyVolume(ctx, v.id);
      await ctx.db.tx(async (t) => {
        if ((await groupVolumes(t, g.id)).length) {
          await t.run("UPDATE cinder_groups SET status = 'error_deleting', updated_at = ? WHERE id = ? AND status = 'deleting'", [nowIso(), g.id]);
          return;
        }
        await t.run("DELETE FROM cinder_groups WHERE id = ? AND status = 'deleting'", [g.id]);
      });
    },
    async onFailure(task) {
      await ctx.db.run("UPDATE cinder_groups SET status = 'error_deleting', updated_at = ? WHERE id = ? AND status = 'deleting'", [nowIso(), task.payload.groupId]);
    },
  });

  // A group from a source: each of its volumes is made (from its snapshot or source volume) in
  // turn — the volume create is idempotent per volume — then the group is available.
  ctx.tasks.register(TASK_GROUP_FROM_SRC, {
    run: wrap(async (_ctx, task: TaskRecord) => {
      const g = await groupRow(ctx.db, task.payload.groupId);
      if (!g || g.status !== 'creating') return;
      for (const v of await groupVolumes(ctx.db, g.id)) if (v.status === 'creating') await realiseVolume(ctx, v.id);
      await ctx.db.run("UPDATE cinder_groups SET status = 'available', updated_at = ? WHERE id = ? AND status = 'creating'", [nowIso(), g.id]);
    }, ctx),
    async onFailure(task) {
      await ctx.db.tx(async (t) => {
        await t.run("UPDATE cinder_volumes SET status = 'error', updated_at = ? WHERE group_id = ? AND status = 'creating'", [nowIso(), task.payload.groupId]);
        await t.run("UPDATE cinder_groups SET status = 'error', updated_at = ? WHERE id = ? AND status = 'creating'", [nowIso(), task.payload.groupId]);
      });
    },
  });

  // A group snapshot: one VMDK copy per volume (createSnapshot is idempotent per snapshot id).
  ctx.tasks.register(TASK_GROUP_SNAPSHOT_CREATE, {
    async run(task: TaskRecord) {
      const gs = await ctx.db.get('SELECT * FROM cinder_group_snapshots WHERE id = ?', [task.payload.groupSnapshotId]);
      if (!gs || gs.status !== 'creating') return;
      const snaps = await ctx.db.all(`SELECT s.id, s.status, s.location, v.location AS volume_location FROM cinder_snapshots s
        JOIN cinder_volumes v ON v.id = s.volume_id WHERE s.group_snapshot_id = ?`, [gs.id]);
      for (const s of snaps) {
        if (s.status !== 'creating' || s.location) continue;
        const from = fromJson<VolumeLocation | null>(s.volume_location, null);
        if (!from) throw new Error(`Volume of snapshot ${s.id} has no backing VMDK.`);
        const loc = await ctx.volumeDriver.createSnapshot(from, s.id);
        await ctx.db.run("UPDATE cinder_snapshots SET location = ?, status = 'available', progress = '100%', updated_at = ? WHERE id = ? AND status = 'creating'",
          [toJson(loc), nowIso(), s.id]);
      }
      await ctx.db.run("UPDATE cinder_group_snapshots SET status = 'available', updated_at = ? WHERE id = ? AND status = 'creating'", [nowIso(), gs.id]);
    },
    async onFailure(task) {
      await ctx.db.tx(async (t) => {
        await t.run("UPDATE cinder_snapshots SET status = 'error', updated_at = ? WHERE group_snapshot_id = ? AND status = 'creating'", [nowIso(), task.payload.groupSnapshotId]);
        await t.run("UPDATE cinder_group_snapshots SET status = 'error', updated_at = ? WHERE id = ? AND status = 'creating'", [nowIso(), task.payload.groupSnapshotId]);
      });
    },
  });

  ctx.tasks.register(TASK_GROUP_SNAPSHOT_DELETE, {
    async run(task: TaskRecord) {
      const gs = await ctx.db.get('SELECT * FROM cinder_group_snapshots WHERE id = ?', [task.payload.groupSnapshotId]);
      if (!gs || gs.status !== 'deleting') return;
      for (const s of await ctx.db.all('SELECT id, location FROM cinder_snapshots WHERE group_snapshot_id = ?', [gs.id])) {
        const loc = fromJson<VolumeLocation | null>(s.location, null);
        if (loc) await ctx.volumeDriver.deleteSnapshot(loc);
        await ctx.db.run('DELETE FROM cinder_snapshots WHERE id = ?', [s.id]);
      }
      await ctx.db.run("DELETE FROM cinder_group_snapshots WHERE id = ? AND status = 'deleting'", [gs.id]);
    },
    async onFailure(task) {
      await ctx.db.tx(async (t) => {
        await t.run("UPDATE cinder_snapshots SET status = 'error_deleting', updated_at = ? WHERE group_snapshot_id = ? AND status = 'deleting'", [nowIso(), task.payload.groupSnapshotId]);
        await t.run("UPDATE cinder_group_snapshots SET status = 'error_deleting', updated_at = ? WHERE id = ? AND status = 'deleting'", [nowIso(), task.payload.groupSnapshotId]);
      });
    },
  });
}

// ---- volumes in groups --------------------------------------------------------------------

/**
 * A volume create naming a group (3.13): the group must be the caller's (any for admins) and
 * available, and the volume's type one of the group's. Returns the group id to store.
 */
export async function groupForNewVolume(t: Queryable, auth: { projectId?: string | null; roles: string[] }, groupId: string, typeId: string): Promise<string> {
  const g = await groupRow(t, groupId);
  if (!g || (g.project_id !== auth.projectId && !auth.roles.includes('admin'))) throw groupNotFound(groupId);
  if (g.status !== 'available') throw invalidInput(`Group ${g.id} status must be available, but current status is: ${g.status}.`);
  if (!g.volume_type_ids.includes(typeId)) throw invalidInput(`Invalid volume_type provided: ${typeId} (requested type must be supported by this group).`);
  return g.id;
}

export async function groupsRoutes(app: FastifyInstance, ctx: Context) {
  await groupTypeRoutes(app, ctx);
  await groupRoutes(app, ctx);
  await groupSnapshotRoutes(app, ctx);
}

