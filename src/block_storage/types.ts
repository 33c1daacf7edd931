// Cinder volume types: /types (list, show incl. 'default', create, update, delete),
// /types/{id}/extra_specs, /types/{id}/os-volume-type-access and the addProjectAccess /
// removeProjectAccess actions. Private types are seen only by admins and by the projects on their
// access list. The VMDK driver's extra specs (vmware:vmdk_type, vmware:adapter_type,
// vmware:storage_profile) are checked when written, so that a volume create never meets a type
// the backend cannot honour, and turned into a VolumeSpec's shape by volumeSpecFromType.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { AuthContext } from '../core/auth.ts';
import type { Queryable } from '../core/db/index.ts';
import type { AdapterType, VmdkType } from '../core/virt.ts';
import type { Migration } from '../core/db/migrate.ts';
import { bool, fromJson, isUniqueViolation, toJson } from '../core/db/index.ts';
import { ApiError, badRequest, conflict } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import { cinderTime } from './db.ts';
import {
  collectionLinks, isAdmin, listRows, paginationParams, parseBool, queryOne, sortParams,
} from './common.ts';

/** Encryption specs of volume types (Cinder's encryption table; one row per type). */
export const typeMigrations: Migration[] = [{
  id: 'block-storage-012-type-encryption',
  sql: `CREATE TABLE cinder_type_encryption (
    volume_type_id TEXT PRIMARY KEY,
    encryption_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    cipher TEXT,
    key_size INTEGER,
    control_location TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT
  )`,
}];

/** Cinder's rules for type access lists and encryption specs (admins only by default). */
export const TYPE_POLICY: Record<string, string> = {
  'volume_extension:volume_type_access:get_all_for_type': 'rule:context_is_admin',
  'volume_extension:volume_type_encryption:create': 'rule:context_is_admin',
  'volume_extension:volume_type_encryption:get': 'rule:context_is_admin',
  'volume_extension:volume_type_encryption:update': 'rule:context_is_admin',
  'volume_extension:volume_type_encryption:delete': 'rule:context_is_admin',
};

/** Cinder's default_volume_type: always present, never deletable. */
export const DEFAULT_TYPE_NAME = '__DEFAULT__';

export const VMDK_TYPES: readonly VmdkType[] = ['thin', 'thick', 'eagerZeroedThick'];
export const ADAPTER_TYPES: readonly AdapterType[] = ['lsiLogic', 'busLogic', 'lsiLogicsas', 'paraVirtual', 'ide'];

/** Extra specs every project may read (cinder.policies.type_extra_specs.USER_VISIBLE_EXTRA_SPECS). */
const USER_VISIBLE_EXTRA_SPECS = ['RESKEY:availability_zones', 'multiattach', 'replication_enabled'];

export interface VolumeType {
  id: string;
  name: string;
  description: string | null;
  isPublic: boolean;
  extraSpecs: Record<string, string>;
  /** Projects given access to a private type. */
  access: string[];
  createdAt: string;
  updatedAt: string;
}

function fromRow(r: any): VolumeType {
  return {
    id: r.id, name: r.name, description: r.description ?? null, isPublic: bool(r.is_public),
    extraSpecs: fromJson(r.extra_specs, {}), access: fromJson(r.access, []), createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

const typeAdmin = (auth: AuthContext) => auth.roles.includes('admin');

function accessible(t: VolumeType, auth: AuthContext): boolean {
  return t.isPublic || typeAdmin(auth) || (!!auth.projectId && t.access.includes(auth.projectId));
}

async function typeById(q: Queryable, id: string): Promise<VolumeType | null> {
  const r = await q.get('SELECT * FROM cinder_volume_types WHERE id = ? AND deleted = 0', [id]);
  return r ? fromRow(r) : null;
}

async function typeByName(q: Queryable, name: string): Promise<VolumeType | null> {
  const r = await q.get('SELECT * FROM cinder_volume_types WHERE name = ? AND deleted = 0', [name]);
  return r ? fromRow(r) : null;
}

/** A type by id for the caller: 404 "Volume type X could not be found." when missing or not visible. */
async function visibleType(q: Queryable, auth: AuthContext, id: string): Promise<VolumeType> {
  const t = await typeById(q, id);
  if (!t || !accessible(t, auth)) throw new ApiError(404, `Volume type ${id} could not be found.`);
  return t;
}

/**
 * The volume type a volume request names (by id or name; none: the default type), as the
 * caller may use it. 404 as Cinder when missing or private and not shared with the caller; 400
 * for an encrypted type.
 */
export async function resolveVolumeType(q: Queryable, auth: AuthContext, ref: string | null | undefined):
  Promise<{ id: string; name: string; extraSpecs: Record<string, string> }> {
  const name = ref === null || ref === undefined || ref === '' ? DEFAULT_TYPE_NAME : String(ref);
  const t = (await typeById(q, name)) ?? (await typeByName(q, name));
  if (!t || !accessible(t, auth)) throw new ApiError(404, `Volume type with name ${name} could not be found.`);
  // Encrypted volumes need a key manager, which this cloud has not: refuse rather than make the
  // volume unencrypted.
  if (await typeEncryption(q, t.id)) {
    throw badRequest(`Invalid volume type: volume type ${t.name} is encrypted, and encrypted volumes are not supported (no key manager is configured).`);
  }
  return { id: t.id, name: t.name, extraSpecs: { ...t.extraSpecs } };
}

/** Name of a type by id (also for views of volumes whose type is gone). */
export async function volumeTypeName(q: Queryable, id: string): Promise<string | null> {
  const r = await q.get('SELECT name FROM cinder_volume_types WHERE id = ?', [id]);
  return r ? r.name : null;
}

export interface TypeEncryption {
  volumeTypeId: string;
  encryptionId: string;
  provider: string;
  cipher: string | null;
  keySize: number | null;
  controlLocation: 'front-end' | 'back-end';
}

/**
 * The encryption specs of a type, or null. Volumes of an encrypted type need a key manager (and
 * front-end encryption on the compute host), which this cloud does not have: callers creating
 * volumes should refuse such types.
 */
export async function typeEncryption(q: Queryable, typeId: string): Promise<TypeEncryption | null> {
  const r = await q.get('SELECT * FROM cinder_type_encryption WHERE volume_type_id = ?', [typeId]);
  if (!r) return null;
  return {
    volumeTypeId: r.volume_type_id, encryptionId: r.encryption_id, provider: r.provider, cipher: r.cipher ?? null,
    keySize: r.key_size === null || r.key_size === undefined ? null : Number(r.key_size), controlLocation: r.control_location,
  };
}

/** The VMDK driver's reading of a type's extra specs (defaults: thin, lsiLogic, no profile). */
export function volumeSpecFromType(extraSpecs: Record<string, string>): { vmdkType: VmdkType; adapterType: AdapterType; storageProfile: string | null } {
  const vt = extraSpecs['vmware:vmdk_type'];
  const at = extraSpecs['vmware:adapter_type'];
  const sp = extraSpecs['vmware:storage_profile'];
  return {
    vmdkType: (VMDK_TYPES as readonly string[]).includes(vt) ? vt as VmdkType : 'thin',
    adapterType: (ADAPTER_TYPES as readonly string[]).includes(at) ? at as AdapterType : 'lsiLogic',
    storageProfile: typeof sp === 'string' && sp !== '' ? sp : null,
  };
}

/** Seeds Cinder's default type (idempotent). */
export async function seedTypes(ctx: Context): Promise<void> {
  const ts = nowIso();
  await ctx.db.run(
    `INSERT INTO cinder_volume_types (id, name, description, is_public, extra_specs, access, created_at, updated_at, deleted)
     VALUES (?, ?, ?, 1, '{}', '[]', ?, ?, 0) ON CONFLICT (name) DO NOTHING`,
    [uuid(), DEFAULT_TYPE_NAME, 'Default Volume Type', ts, ts]);
}

// ---- input checks -----------------------------------------------------------------------------

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fieldError(field: string, value: unknown, why: string) {
  return badRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${why}`);
}

function onlyKeys(o: Record<string, unknown>, allowedKeys: string[]) {
  for (const k of Object.keys(o)) {
    if (!allowedKeys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
  }
}

function checkTypeName(v: unknown, field = 'name'): string {
  if (typeof v !== 'string') throw fieldError(field, v, `${JSON.stringify(v)} is not of type 'string'`);
  if (v.length > 255) throw fieldError(field, v, `'${v}' is too long`);
  if (v.trim() === '') throw badRequest(`Invalid input for field/attribute ${field}. The 'name' can not be empty.`);
  return v;
}

function checkDescription(v: unknown): string | null {
  if (v === null) return null;
  if (typeof v !== 'string') throw fieldError('description', v, `${JSON.stringify(v)} is not of type 'string', 'null'`);
  if (v.length > 255) throw fieldError('description', v, `'${v}' is too long`);
  return v;
}

function booleanField(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean' && typeof v !== 'string') throw fieldError(field, v, `${JSON.stringify(v)} is not of type 'boolean', 'string'`);
  return parseBool(v, field);
}

/**
 * Extra specs as Cinder's schema allows them (keys of letters, digits and -_:. [space and / too
 * with `spaces`], values strings up to 255 or null) and as the VMDK driver understands them.
 */
function checkExtraSpecs(v: unknown, field: string, spaces: boolean): Record<string, string> {
  if (!isObj(v)) throw fieldError(field, v, `${JSON.stringify(v)} is not of type 'object'`);
  const keyRe = spaces ? /^[a-zA-Z0-9-_:. /]{1,255}$/ : /^[a-zA-Z0-9-_:.]{1,255}$/;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (!keyRe.test(k)) throw badRequest(`Invalid input for field/attribute ${field}. Additional properties are not allowed ('${k}' was unexpected)`);
    if (val !== null && typeof val !== 'string') throw fieldError(`${field}.${k}`, val, `${JSON.stringify(val)} is not of type 'string', 'null'`);
    if (typeof val === 'string' && val.length > 255) throw fieldError(`${field}.${k}`, val, `'${val}' is too long`);
    out[k] = val as string;
  }
  const vt = out['vmware:vmdk_type'];
  if (vt !== undefined && !(VMDK_TYPES as readonly string[]).includes(vt)) {
    throw badRequest(`Invalid input received: vmware:vmdk_type ${vt} is not supported; it must be one of ${VMDK_TYPES.join(', ')}.`);
  }
  const at = out['vmware:adapter_type'];
  if (at !== undefined && !(ADAPTER_TYPES as readonly string[]).includes(at)) {
    throw badRequest(`Invalid input received: vmware:adapter_type ${at} is not supported; it must be one of ${ADAPTER_TYPES.join(', ')}.`);
  }
  return out;
}

function bodyOf(body: unknown, key: string): Record<string, any> {
  if (!isObj(body) || !(key in body)) throw badRequest(`'${key}' is a required property`);
  onlyKeys(body, [key]);
  if (!isObj(body[key])) throw fieldError(key, body[key], `${JSON.stringify(body[key])} is not of type 'object'`);
  return body[key];
}

// ---- views ------------------------------------------------------------------------------------

/**
 * Cinder's type views: show/list (v3 view: qos_specs_id for admins), create (the older view plus
 * the access extension's is_public) and update (the older view alone).
 */
function typeView(ctx: Context, req: FastifyRequest, t: VolumeType, kind: 'show' | 'create' | 'update' = 'show') {
  const admin = isAdmin(ctx, req);
  const specs: Record<string, string> = {};
  for (const [k, v] of Object.entries(t.extraSpecs)) if (admin || USER_VISIBLE_EXTRA_SPECS.includes(k)) specs[k] = v;
  const view: Record<string, unknown> = { id: t.id, name: t.name, is_public: t.isPublic, description: t.description, extra_specs: specs };
  if (admin && kind === 'show') view.qos_specs_id = null;
  // Cinder's volume_type_access rule (admin or owner) lets every project see this one.
  if (kind !== 'update') view['os-volume-type-access:is_public'] = t.isPublic;
  return view;
}

async function typeInUse(q: Queryable, id: string): Promise<boolean> {
  return !!(await q.get('SELECT 1 AS x FROM cinder_volumes WHERE volume_type_id = ? LIMIT 1', [id]));
}

const SORT_KEYS = ['id', 'name', 'description', 'is_public', 'created_at', 'updated_at'];

export async function typeRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/types', async (req) => {
    const auth = req.auth!;
    const admin = isAdmin(ctx, req);
    const page = paginationParams(req);
    const sort = sortParams(req, SORT_KEYS);
    // is_public, for admins: true (the default) = public ones and those shared with the caller's
    // project, false = private ones, none = all. Others always get the public ones and theirs.
    let isPublic: boolean | null = true;
    const raw = queryOne(req, 'is_public');
    if (admin && raw !== undefined) isPublic = raw.toLowerCase() === 'none' ? null : parseBool(raw, 'is_public');
    const where = ['deleted = 0'];
    const params: string[] = [];
    // The access list is a JSON array of project ids on the type row.
    if (isPublic === true) { where.push('is_public = 1 OR access LIKE ?'); params.push(`%${JSON.stringify(auth.projectId ?? '')}%`); }
    else if (isPublic === false) where.push('is_public = 0');
    const rows = await listRows(ctx.db, {
      from: 'cinder_volume_types', where, params, sort, page,
      markerNotFound: (m) => new ApiError(404, `Marker ${m} could not be found.`),
    });
    const types = rows.map(fromRow);
    const body: Record<string, unknown> = { volume_types: types.map((t) => typeView(ctx, req, t)) };
    const links = collectionLinks(ctx, req, 'types', types, page);
    if (links) body.volume_type_links = links;
    return body;
  });

  app.get<{ Params: { type_id: string } }>('/types/:type_id', async (req) => {
    const { type_id } = req.params;
    if (type_id === 'default') {
      const t = await typeByName(ctx.db, DEFAULT_TYPE_NAME);
      if (!t) throw new ApiError(404, 'Default volume type can not be found.');
      return { volume_type: typeView(ctx, req, t) };
    }
    return { volume_type: typeView(ctx, req, await visibleType(ctx.db, req.auth!, type_id)) };
  });

  app.post('/types', async (req) => {
    ctx.policy.authorize('volume_extension:types_manage', req.auth!, { project_id: req.auth!.projectId });
    const b = bodyOf(req.body, 'volume_type');
    onlyKeys(b, ['name', 'description', 'extra_specs', 'os-volume-type-access:is_public']);
    if (!('name' in b)) throw badRequest("Invalid input for field/attribute volume_type. 'name' is a required property");
    const name = checkTypeName(b.name);
    const description = b.description === undefined ? null : checkDescription(b.description);
    const specs = b.extra_specs === undefined || b.extra_specs === null ? {} : checkExtraSpecs(b.extra_specs, 'extra_specs', true);
    const isPublic = b['os-volume-type-access:is_public'] === undefined ? true : booleanField(b['os-volume-type-access:is_public'], 'os-volume-type-access:is_public');
    const id = uuid();
    const ts = nowIso();
    try {
      await ctx.db.tx(async (t) => {
        if (await typeByName(t, name)) throw conflict(`Volume Type ${name} already exists.`);
        await t.run(
          `INSERT INTO cinder_volume_types (id, name, description, is_public, extra_specs, access, created_at, updated_at, deleted)
           VALUES (?, ?, ?, ?, ?, '[]', ?, ?, 0)`, [id, name, description, isPublic, toJson(specs), ts, ts]);
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`Volume Type ${name} already exists.`);
      throw e;
    }
    return { volume_type: typeView(ctx, req, (await typeById(ctx.db, id))!, 'create') };
  });

  app.put<{ Params: { type_id: string } }>('/types/:type_id', async (req) => {
    ctx.policy.authorize('volume_extension:types_manage', req.auth!, { project_id: req.auth!.projectId });
    const b = bodyOf(req.body, 'volume_type');
    onlyKeys(b, ['name', 'description', 'is_public']);
    const name = b.name === undefined || b.name === null ? undefined : checkTypeName(b.name);
    // As Cinder: a null name or description leaves it unchanged.
    const description = b.description === undefined ? undefined : checkDescription(b.description);
    const isPublic = b.is_public === undefined || b.is_public === null ? undefined : booleanField(b.is_public, 'is_public');
    if (name === undefined && (description === undefined || description === null) && isPublic === undefined) {
      throw badRequest('Specify volume type name, description, is_public or a combination thereof.');
    }
    const { type_id } = req.params;
    try {
      await ctx.db.tx(async (t) => {
        const cur = await typeById(t, type_id);
        if (!cur) throw new ApiError(404, `Volume type ${type_id} could not be found.`);
        if (name !== undefined && name !== cur.name) {
          if (cur.name === DEFAULT_TYPE_NAME) throw badRequest(`The volume type ${type_id} is a default volume type and cannot be renamed.`);
          if (await typeByName(t, name)) throw conflict(`Volume Type ${name} already exists.`);
        }
        await t.run('UPDATE cinder_volume_types SET name = ?, description = ?, is_public = ?, updated_at = ? WHERE id = ?', [
          name ?? cur.name, description ?? cur.description, isPublic ?? cur.isPublic, nowIso(), type_id]);
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`Volume Type ${name} already exists.`);
      throw e;
    }
    return { volume_type: typeView(ctx, req, (await typeById(ctx.db, type_id))!, 'update') };
  });

  app.delete<{ Params: { type_id: string } }>('/types/:type_id', async (req, reply) => {
    ctx.policy.authorize('volume_extension:types_manage', req.auth!, { project_id: req.auth!.projectId });
    const { type_id } = req.params;
    await ctx.db.tx(async (t) => {
      const cur = await typeById(t, type_id);
      if (!cur) throw new ApiError(404, `Volume type ${type_id} could not be found.`);
      if (cur.name === DEFAULT_TYPE_NAME) throw badRequest(`The volume type ${type_id} is a default volume type and cannot be deleted.`);
      if (await typeInUse(t, type_id)) throw badRequest('Target volume type is still in use.');
      // The row goes: names are unique among all rows, and a deleted type's name may be reused.
      await t.run('DELETE FROM cinder_volume_types WHERE id = ?', [type_id]);
      await t.run('DELETE FROM cinder_type_encryption WHERE volume_type_id = ?', [type_id]);
    });
    return reply.code(202).send();
  });

  // ---- access list of private types ----

  app.get<{ Params: { type_id: string } }>('/types/:type_id/os-volume-type-access', async (req) => {
    ctx.policy.authorize('volume_extension:volume_type_access:get_all_for_type', req.auth!, { project_id: req.auth!.projectId });
    const t = await visibleType(ctx.db, req.auth!, req.params.type_id);
    if (t.isPublic) throw new ApiError(404, 'Access list not available for public volume types.');
    return { volume_type_access: t.access.map((p) => ({ volume_type_id: t.id, project_id: p })) };
  });

  app.post<{ Params: { type_id: string } }>('/types/:type_id/action', async (req, reply) => {
    const b = req.body;
    if (!isObj(b) || Object.keys(b).length !== 1) throw badRequest('There is no such action: None');
    const action = Object.keys(b)[0];
    if (action !== 'addProjectAccess' && action !== 'removeProjectAccess') throw badRequest(`There is no such action: ${action}`);
    ctx.policy.authorize(`volume_extension:volume_type_access:${action}`, req.auth!, { project_id: req.auth!.projectId });
    const a = bodyOf(b, action);
    onlyKeys(a, ['project']);
    if (!('project' in a)) throw badRequest(`Invalid input for field/attribute ${action}. 'project' is a required property`);
    const project = a.project;
    if (typeof project !== 'string' || project.length < 1 || project.length > 255) {
      throw fieldError(`${action}.project`, project, 'must be a string of 1 to 255 characters');
    }
    const { type_id } = req.params;
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:type:${type_id}`);
      const cur = await typeById(t, type_id);
      if (!cur) throw new ApiError(404, `Volume type ${type_id} could not be found.`);
      if (cur.isPublic) throw badRequest('Invalid volume type: Type access modification is not applicable to public volume type.');
      const has = cur.access.includes(project);
      if (action === 'addProjectAccess' && has) {
        throw conflict(`Volume type access for ${type_id} / ${project} combination already exists.`);
      }
      if (action === 'removeProjectAccess' && !has) {
        throw new ApiError(404, `Volume type access not found for ${type_id} / ${project} combination.`);
      }
      const access = action === 'addProjectAccess' ? [...cur.access, project] : cur.access.filter((p) => p !== project);
      await t.run('UPDATE cinder_volume_types SET access = ?, updated_at = ? WHERE id = ?', [toJson(access), nowIso(), type_id]);
    });
    return reply.code(202).send();
  });

  // ---- extra specs ----

  const visibleSpecs = (req: FastifyRequest, t: VolumeType) => {
    if (isAdmin(ctx, req)) return { ...t.extraSpecs };
    const out: Record<string, string> = {};
    for (const k of USER_VISIBLE_EXTRA_SPECS) if (k in t.extraSpecs) out[k] = t.extraSpecs[k];
    return out;
  };

  /** Writes specs into a type (not while volumes use it, as Cinder). */
  const mergeSpecs = async (typeId: string, specs: Record<string, string>) => {
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:type:${typeId}`);
      if (await typeInUse(t, typeId)) throw badRequest('Volume Type is currently in use.');
      const cur = await typeById(t, typeId);
      if (!cur) throw new ApiError(404, `Volume type ${typeId} could not be found.`);
      await t.run('UPDATE cinder_volume_types SET extra_specs = ?, updated_at = ? WHERE id = ?', [toJson({ ...cur.extraSpecs, ...specs }), nowIso(), typeId]);
    });
  };

  app.get<{ Params: { type_id: string } }>('/types/:type_id/extra_specs', async (req) => {
    ctx.policy.authorize('volume_extension:types_extra_specs:index', req.auth!, { project_id: req.auth!.projectId });
    const t = await visibleType(ctx.db, req.auth!, req.params.type_id);
    return { extra_specs: visibleSpecs(req, t) };
  });

  app.post<{ Params: { type_id: string } }>('/types/:type_id/extra_specs', async (req) => {
    ctx.policy.authorize('volume_extension:types_extra_specs:create', req.auth!, { project_id: req.auth!.projectId });
    const b = req.body;
    if (!isObj(b) || !('extra_specs' in b)) throw badRequest("'extra_specs' is a required property");
    onlyKeys(b, ['extra_specs']);
    const specs = checkExtraSpecs(b.extra_specs, 'extra_specs', false);
    await visibleType(ctx.db, req.auth!, req.params.type_id);
    await mergeSpecs(req.params.type_id, specs);
    return { extra_specs: specs };
  });

  app.get<{ Params: { type_id: string; key: string } }>('/types/:type_id/extra_specs/:key', async (req) => {
    ctx.policy.authorize('volume_extension:types_extra_specs:show', req.auth!, { project_id: req.auth!.projectId });
    const { type_id, key } = req.params;
    const specs = visibleSpecs(req, await visibleType(ctx.db, req.auth!, type_id));
    if (!(key in specs)) throw new ApiError(404, `Volume Type ${type_id} has no extra specs with key ${key}.`);
    return { [key]: specs[key] };
  });

  app.put<{ Params: { type_id: string; key: string } }>('/types/:type_id/extra_specs/:key', async (req) => {
    ctx.policy.authorize('volume_extension:types_extra_specs:update', req.auth!, { project_id: req.auth!.projectId });
    const { type_id, key } = req.params;
    const b = req.body;
    if (!isObj(b)) throw badRequest(`Invalid input for field/attribute body. Value: ${JSON.stringify(b)}. ${JSON.stringify(b)} is not of type 'object'`);
    const n = Object.keys(b).length;
    if (n < 1) throw badRequest('Invalid input for field/attribute body. {} does not have enough properties');
    if (n > 1) throw badRequest(`Invalid input for field/attribute body. ${JSON.stringify(b)} has too many properties`);
    const specs = checkExtraSpecs(b, 'body', false);
    if (!(key in specs)) throw badRequest('Request body and URI mismatch');
    await visibleType(ctx.db, req.auth!, type_id);
    await mergeSpecs(type_id, specs);
    return specs;
  });

  app.delete<{ Params: { type_id: string; key: string } }>('/types/:type_id/extra_specs/:key', async (req, reply) => {
    const { type_id, key } = req.params;
    await visibleType(ctx.db, req.auth!, type_id);
    ctx.policy.authorize('volume_extension:types_extra_specs:delete', req.auth!, { project_id: req.auth!.projectId });
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:type:${type_id}`);
      if (await typeInUse(t, type_id)) throw badRequest('Volume Type is currently in use.');
      const cur = await typeById(t, type_id);
      if (!cur) throw new ApiError(404, `Volume type ${type_id} could not be found.`);
      if (!(key in cur.extraSpecs)) throw new ApiError(404, `Volume Type ${type_id} has no extra specs with key ${key}.`);
      const { [key]: _gone, ...rest } = cur.extraSpecs;
      await t.run('UPDATE cinder_volume_types SET extra_specs = ?, updated_at = ? WHERE id = ?', [toJson(rest), nowIso(), type_id]);
    });
    return reply.code(202).send();
  });

  // ---- encryption specs (/types/{id}/encryption) ----

  /** The body's encryption specs as Cinder's schema allows them (all optional for an update). */
  const encryptionBody = (body: unknown, create: boolean) => {
    if (!isObj(body) || !('encryption' in body)) throw badRequest("'encryption' is a required property");
    onlyKeys(body, ['encryption']);
    const e = body.encryption;
    if (!isObj(e)) throw fieldError('encryption', e, `${JSON.stringify(e)} is not of type 'object'`);
    const out: { provider?: string; cipher?: string | null; key_size?: number | null; control_location?: string } = {};
    if (create && !('provider' in e)) throw badRequest("Invalid input for field/attribute encryption. 'provider' is a required property");
    if (create && !('control_location' in e)) throw badRequest("Invalid input for field/attribute encryption. 'control_location' is a required property");
    if ('provider' in e) {
      if (typeof e.provider !== 'string' || e.provider.length > 255) throw fieldError('encryption.provider', e.provider, "is not a string of at most 255 characters");
      out.provider = e.provider;
    }
    if ('control_location' in e) {
      if (e.control_location !== 'front-end' && e.control_location !== 'back-end') throw fieldError('encryption.control_location', e.control_location, "is not one of ['front-end', 'back-end']");
      out.control_location = e.control_location;
    }
    if ('cipher' in e) {
      if (e.cipher !== null && (typeof e.cipher !== 'string' || e.cipher.length > 255)) throw fieldError('encryption.cipher', e.cipher, "is not of type 'string', 'null'");
      out.cipher = e.cipher;
    }
    if ('key_size' in e) {
      const k = e.key_size;
      if (k === null) out.key_size = null;
      else if ((typeof k === 'number' && Number.isInteger(k)) || (typeof k === 'string' && /^\d+$/.test(k))) {
        const n = Number(k);
        if (n < 0 || n > 0x7fffffff) throw fieldError('encryption.key_size', k, 'is out of range');
        out.key_size = n;
      } else throw fieldError('encryption.key_size', k, "is not of type 'string', 'integer', 'null'");
    }
    return out;
  };
  const encryptionView = (e: TypeEncryption, row: any) => ({
    volume_type_id: e.volumeTypeId, encryption_id: e.encryptionId, key_size: e.keySize, provider: e.provider,
    control_location: e.controlLocation, cipher: e.cipher, deleted: false, created_at: cinderTime(row.created_at),
    updated_at: cinderTime(row.updated_at), deleted_at: null,
  });

  app.get<{ Params: { type_id: string } }>('/types/:type_id/encryption', async (req) => {
    ctx.policy.authorize('volume_extension:volume_type_encryption:get', req.auth!, { project_id: req.auth!.projectId });
    const t = await visibleType(ctx.db, req.auth!, req.params.type_id);
    const e = await typeEncryption(ctx.db, t.id);
    if (!e) return {};
    return encryptionView(e, await ctx.db.get('SELECT created_at, updated_at FROM cinder_type_encryption WHERE volume_type_id = ?', [t.id]));
  });

  app.get<{ Params: { type_id: string; key: string } }>('/types/:type_id/encryption/:key', async (req) => {
    ctx.policy.authorize('volume_extension:volume_type_encryption:get', req.auth!, { project_id: req.auth!.projectId });
    const t = await visibleType(ctx.db, req.auth!, req.params.type_id);
    const e = await typeEncryption(ctx.db, t.id);
    const specs: Record<string, unknown> = e ? { volume_type_id: e.volumeTypeId, encryption_id: e.encryptionId, provider: e.provider, cipher: e.cipher, key_size: e.keySize, control_location: e.controlLocation } : {};
    if (!e || !(req.params.key in specs)) throw new ApiError(404, `Volume type encryption for type ${t.id} does not exist.`);
    return { [req.params.key]: specs[req.params.key] };
  });

  app.post<{ Params: { type_id: string } }>('/types/:type_id/encryption', async (req) => {
    ctx.policy.authorize('volume_extension:volume_type_encryption:create', req.auth!, { project_id: req.auth!.projectId });
    const b = encryptionBody(req.body, true);
    const { type_id } = req.params;
    const encryptionId = uuid();
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:type:${type_id}`);
      if (await typeInUse(t, type_id)) throw badRequest('Cannot create encryption specs. Volume type in use.');
      await visibleType(t, req.auth!, type_id);
      if (await typeEncryption(t, type_id)) throw badRequest(`Volume type encryption for type ${type_id} already exists.`);
      await t.run(`INSERT INTO cinder_type_encryption (volume_type_id, encryption_id, provider, cipher, key_size, control_location, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`, [type_id, encryptionId, b.provider!, b.cipher ?? null, b.key_size ?? null, b.control_location!, nowIso()]);
    });
    return { encryption: { ...b, volume_type_id: type_id, encryption_id: encryptionId } };
  });

  app.put<{ Params: { type_id: string; key: string } }>('/types/:type_id/encryption/:key', async (req) => {
    ctx.policy.authorize('volume_extension:volume_type_encryption:update', req.auth!, { project_id: req.auth!.projectId });
    const b = encryptionBody(req.body, false);
    const { type_id } = req.params;
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:type:${type_id}`);
      await visibleType(t, req.auth!, type_id);
      if (await typeInUse(t, type_id)) throw badRequest('Cannot update encryption specs. Volume type in use.');
      const cur = await typeEncryption(t, type_id);
      if (!cur) throw new ApiError(404, `Volume type encryption for type ${type_id} does not exist.`);
      await t.run('UPDATE cinder_type_encryption SET provider = ?, cipher = ?, key_size = ?, control_location = ?, updated_at = ? WHERE volume_type_id = ?', [
        b.provider ?? cur.provider, b.cipher !== undefined ? b.cipher : cur.cipher, b.key_size !== undefined ? b.key_size : cur.keySize,
        b.control_location ?? cur.controlLocation, nowIso(), type_id]);
    });
    return { encryption: b };
  });

  app.delete<{ Params: { type_id: string; key: string } }>('/types/:type_id/encryption/:key', async (req, reply) => {
    ctx.policy.authorize('volume_extension:volume_type_encryption:delete', req.auth!, { project_id: req.auth!.projectId });
    const { type_id } = req.params;
    await ctx.db.tx(async (t) => {
      await t.lock(`cinder:type:${type_id}`);
      await visibleType(t, req.auth!, type_id);
      if (await typeInUse(t, type_id)) throw badRequest('Cannot delete encryption specs. Volume type in use.');
      if (!(await typeEncryption(t, type_id))) throw new ApiError(404, `Volume type encryption for type ${type_id} does not exist.`);
      await t.run('DELETE FROM cinder_type_encryption WHERE volume_type_id = ?', [type_id]);
    });
    return reply.code(202).send();
  });
}
