// Nova flavors: /flavors (list, detail, show, create, update description at 2.55, delete),
// /flavors/{id}/os-extra_specs and /flavors/{id}/os-flavor-access with the addTenantAccess and
// removeTenantAccess actions. Deleted flavors stay as rows (deleted = their internal id) so that
// servers built from them still show their flavor; names and flavor ids are unique among live rows.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ComputePart } from './index.ts';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import type { FlavorSpec } from '../core/virt.ts';
import { bool, isUniqueViolation } from '../core/db/index.ts';
import { ApiError, badRequest, conflict, notFound } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import { mv } from './microversion.ts';
import {
  allowed, bodyObject, checkDescription, checkKeys, checkName, checkQueryKeys, isAdmin, isObject,
  limitAndMarker, nextLinks, parseBoolean, queryOne, resourceLinks, show, MAX_INT,
} from './common.ts';

export interface Flavor {
  /** Nova's flavorid (the API id). */
  id: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  ephemeralGb: number;
  swapMb: number;
  rxtxFactor: number;
  isPublic: boolean;
  disabled: boolean;
  description: string | null;
  extraSpecs: Record<string, string>;
  deleted: boolean;
  /** Internal row id (flavor_extra_specs/flavor_projects refer to it). */
  internalId: number;
  createdAt: string;
  updatedAt: string | null;
}

const migrations = [{
  id: 'compute-001-flavors',
  sql: `
CREATE TABLE flavors (
  id INTEGER PRIMARY KEY,
  flavorid TEXT NOT NULL,
  name TEXT NOT NULL,
  memory_mb INTEGER NOT NULL,
  vcpus INTEGER NOT NULL,
  root_gb INTEGER NOT NULL,
  ephemeral_gb INTEGER NOT NULL DEFAULT 0,
  swap INTEGER NOT NULL DEFAULT 0,
  rxtx_factor DOUBLE PRECISION NOT NULL DEFAULT 1.0,
  is_public INTEGER NOT NULL DEFAULT 1,
  disabled INTEGER NOT NULL DEFAULT 0,
  description TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0,
  deleted_at TEXT
);
CREATE UNIQUE INDEX flavors_flavorid_uq ON flavors (flavorid, deleted);
CREATE UNIQUE INDEX flavors_name_uq ON flavors (name, deleted);
CREATE TABLE flavor_extra_specs (
  flavor_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (flavor_id, key)
);
CREATE TABLE flavor_projects (
  flavor_id INTEGER NOT NULL,
  project_id TEXT NOT NULL,
  PRIMARY KEY (flavor_id, project_id)
);
CREATE INDEX flavor_projects_project ON flavor_projects (project_id)`,
}];

// ---------------------------------------------------------------------------------------------
// Data access (also the in-process contract other compute parts use)

function fromRow(r: any, specs: Record<string, string>): Flavor {
  return {
    id: r.flavorid, name: r.name, vcpus: Number(r.vcpus), memoryMb: Number(r.memory_mb), rootGb: Number(r.root_gb),
    ephemeralGb: Number(r.ephemeral_gb), swapMb: Number(r.swap), rxtxFactor: Number(r.rxtx_factor),
    isPublic: bool(r.is_public), disabled: bool(r.disabled), description: r.description ?? null,
    extraSpecs: specs, deleted: Number(r.deleted) !== 0, internalId: Number(r.id),
    createdAt: r.created_at, updatedAt: r.updated_at ?? null,
  };
}

async function specsOf(q: Queryable, ids: number[]): Promise<Map<number, Record<string, string>>> {
  const out = new Map<number, Record<string, string>>();
  for (const id of ids) out.set(id, {});
  if (!ids.length) return out;
  // Chunked IN lists keep the parameter count small on both databases.
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = await q.all(`SELECT flavor_id, key, value FROM flavor_extra_specs WHERE flavor_id IN (${chunk.map(() => '?').join(',')})`, chunk);
    for (const r of rows) out.get(Number(r.flavor_id))![r.key] = r.value;
  }
  return out;
}

/**
 * A flavor by its API id. Live flavors only unless includeDeleted, in which case the live one
 * wins and otherwise the most recently deleted one is returned.
 */
export async function getFlavor(q: Queryable, flavorId: string, opts: { includeDeleted?: boolean } = {}): Promise<Flavor | null> {
  const row = opts.includeDeleted
    ? await q.get('SELECT * FROM flavors WHERE flavorid = ? ORDER BY CASE WHEN deleted = 0 THEN 0 ELSE 1 END, deleted DESC LIMIT 1', [String(flavorId)])
    : await q.get('SELECT * FROM flavors WHERE flavorid = ? AND deleted = 0', [String(flavorId)]);
  if (!row) return null;
  const specs = await specsOf(q, [Number(row.id)]);
  return fromRow(row, specs.get(Number(row.id))!);
}

/** Nova's access rule: admins see every flavor; others public ones and private ones shared with their project. */
export async function flavorAccessibleBy(q: Queryable, flavor: Flavor, projectId: string | undefined, admin: boolean): Promise<boolean> {
  if (admin || flavor.isPublic) return true;
  if (!projectId) return false;
  return !!(await q.get('SELECT 1 AS x FROM flavor_projects WHERE flavor_id = ? AND project_id = ?', [flavor.internalId, projectId]));
}

export function flavorToSpec(f: Flavor): FlavorSpec {
  return {
    id: f.id, name: f.name, vcpus: f.vcpus, memoryMb: f.memoryMb, rootGb: f.rootGb,
    ephemeralGb: f.ephemeralGb, swapMb: f.swapMb, extraSpecs: { ...f.extraSpecs },
  };
}

/** The flavor embedded in a server body at 2.47+ (Nova's instance flavor view). */
export function serverFlavorView(f: FlavorSpec | Flavor, includeExtraSpecs: boolean) {
  const body: Record<string, unknown> = {
    vcpus: f.vcpus, ram: f.memoryMb, disk: f.rootGb, ephemeral: f.ephemeralGb, swap: f.swapMb, original_name: f.name,
  };
  if (includeExtraSpecs) body.extra_specs = { ...f.extraSpecs };
  return body;
}

async function projectsOf(q: Queryable, f: Flavor): Promise<string[]> {
  const rows = await q.all('SELECT project_id FROM flavor_projects WHERE flavor_id = ? ORDER BY project_id', [f.internalId]);
  return rows.map((r) => r.project_id);
}

export interface NewFlavor {
  id?: string | null;
  name: string;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  ephemeralGb?: number;
  swapMb?: number;
  rxtxFactor?: number;
  isPublic?: boolean;
  description?: string | null;
  extraSpecs?: Record<string, string>;
}

/** Creates a flavor (409 on a live duplicate name or id); used by the API and by the seed. */
export async function createFlavor(q: Queryable, f: NewFlavor): Promise<Flavor> {
  const flavorid = f.id ? String(f.id) : uuid();
  try {
    return await q.tx(async (t) => {
      await t.lock('compute:flavors');
      if (await t.get('SELECT 1 AS x FROM flavors WHERE name = ? AND deleted = 0', [f.name])) throw conflict(`Flavor with name ${f.name} already exists.`);
      if (await t.get('SELECT 1 AS x FROM flavors WHERE flavorid = ? AND deleted = 0', [flavorid])) throw conflict(`Flavor with ID ${flavorid} already exists.`);
      const next = await t.get('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM flavors');
      const id = Number(next!.n);
      await t.run(`INSERT INTO flavors (id, flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, description, created_at, deleted)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0)`, [
        id, flavorid, f.name, f.memoryMb, f.vcpus, f.rootGb, f.ephemeralGb ?? 0, f.swapMb ?? 0, f.rxtxFactor ?? 1.0,
        f.isPublic === false ? 0 : 1, f.description ?? null, nowIso()]);
      for (const [k, v] of Object.entries(f.extraSpecs ?? {})) {
        await t.run('INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES (?, ?, ?)', [id, k, v]);
      }
      return (await getFlavor(t, flavorid))!;
    });
  } catch (e) {
    // Another process (PostgreSQL) may have won the race between our check and insert.
    if (isUniqueViolation(e)) throw conflict(`Flavor with ID ${flavorid} already exists.`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// API views

function flavorView(ctx: Context, req: FastifyRequest, f: Flavor, includeExtraSpecs: boolean) {
  const body: Record<string, unknown> = {
    id: f.id, name: f.name, ram: f.memoryMb, disk: f.rootGb,
    swap: f.swapMb || '',
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeralGb,
    'OS-FLV-DISABLED:disabled': f.disabled,
    vcpus: f.vcpus,
    'os-flavor-access:is_public': f.isPublic,
    rxtx_factor: f.rxtxFactor || '',
    links: resourceLinks(ctx, req, 'flavors', f.id),
  };
  const v = mv(req);
  if (v.atLeast('2.55')) body.description = f.description;
  if (includeExtraSpecs) body.extra_specs = { ...f.extraSpecs };
  if (v.atLeast('2.75')) body.swap = f.swapMb || 0;
  return body;
}

function briefView(ctx: Context, req: FastifyRequest, f: Flavor) {
  const body: Record<string, unknown> = { id: f.id, name: f.name, links: resourceLinks(ctx, req, 'flavors', f.id) };
  if (mv(req).atLeast('2.55')) body.description = f.description;
  return body;
}

/** At 2.61+ the flavor body carries extra_specs for callers allowed to list them. */
function showsExtraSpecs(ctx: Context, req: FastifyRequest): boolean {
  return mv(req).atLeast('2.61') && allowed(ctx, req, 'os_compute_api:os-flavor-extra-specs:index', { project_id: req.auth!.projectId });
}

/** The flavor as the caller may see it (Nova's common.get_flavor): 404 when missing or not accessible. */
async function lookup(ctx: Context, req: FastifyRequest, id: string): Promise<Flavor> {
  const f = await getFlavor(ctx.db, id);
  if (!f || !(await flavorAccessibleBy(ctx.db, f, req.auth!.projectId, isAdmin(ctx, req)))) {
    throw notFound(`Flavor ${id} could not be found.`);
  }
  return f;
}

const SORT_KEYS: Record<string, string> = {
  created_at: 'created_at', description: 'description', disabled: 'disabled', ephemeral_gb: 'ephemeral_gb',
  flavorid: 'flavorid', id: 'id', is_public: 'is_public', memory_mb: 'memory_mb', name: 'name',
  root_gb: 'root_gb', rxtx_factor: 'rxtx_factor', swap: 'swap', updated_at: 'updated_at', vcpu_weight: 'id',
  vcpus: 'vcpus',
};

function enumCheck(req: FastifyRequest, name: string, values: string[]): string | undefined {
  const v = queryOne(req, name);
  if (v !== undefined && !values.includes(v)) {
    throw badRequest(`Invalid input for query parameters ${name}. Value: ${v}. '${v}' is not one of [${values.map((x) => `'${x}'`).join(', ')}]`);
  }
  return v;
}

function compare(a: any, b: any): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1; // NULLs sort first ascending, as in MySQL
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}

async function listFlavors(ctx: Context, req: FastifyRequest): Promise<{ items: Flavor[]; limit: number }> {
  if (mv(req).atLeast('2.75')) checkQueryKeys(req, ['limit', 'marker', 'is_public', 'minRam', 'minDisk', 'sort_key', 'sort_dir']);
  const sortKey = enumCheck(req, 'sort_key', Object.keys(SORT_KEYS)) || 'flavorid';
  const sortDir = enumCheck(req, 'sort_dir', ['asc', 'desc']) || 'asc';
  const { limit, marker } = limitAndMarker(req);
  const admin = isAdmin(ctx, req);
  const projectId = req.auth!.projectId ?? null;

  let isPublic: boolean | null = true;
  if (admin) {
    const raw = queryOne(req, 'is_public');
    if (raw === undefined) isPublic = true;
    else if (raw.toLowerCase() === 'none') isPublic = null;
    else {
      try { isPublic = parseBoolean(raw, 'is_public'); } catch { throw badRequest(`Invalid is_public filter [${raw}]`); }
    }
  }
  const where: string[] = ['f.deleted = 0'];
  const params: any[] = [];
  if (!admin) {
    where.push('f.disabled = 0');
    where.push('(f.is_public = 1 OR EXISTS (SELECT 1 FROM flavor_projects p WHERE p.flavor_id = f.id AND p.project_id = ?))');
    params.push(projectId ?? '');
  } else if (isPublic === true) {
    where.push('(f.is_public = 1 OR EXISTS (SELECT 1 FROM flavor_projects p WHERE p.flavor_id = f.id AND p.project_id = ?))');
    params.push(projectId ?? '');
  } else if (isPublic === false) {
    where.push('f.is_public = 0');
  }
  for (const [param, col] of [['minRam', 'memory_mb'], ['minDisk', 'root_gb']] as const) {
    const raw = queryOne(req, param);
    if (raw === undefined) continue;
    if (!/^\s*[-+]?\d+\s*$/.test(raw)) throw badRequest(`Invalid ${param} filter [${raw}]`);
    where.push(`f.${col} >= ?`);
    params.push(Number(raw));
  }
  const rows = await ctx.db.all(`SELECT f.* FROM flavors f WHERE ${where.join(' AND ')}`, params);
  const col = SORT_KEYS[sortKey];
  const sign = sortDir === 'desc' ? -1 : 1;
  const cmpRows = (a: any, b: any) => sign * (compare(a[col], b[col]) || compare(Number(a.id), Number(b.id)));
  rows.sort(cmpRows);
  let start = 0;
  if (marker !== undefined) {
    const m = await getFlavor(ctx.db, marker);
    if (!m || !(await flavorAccessibleBy(ctx.db, m, req.auth!.projectId, admin))) throw badRequest(`marker [${marker}] not found`);
    const mrow = await ctx.db.get('SELECT * FROM flavors WHERE id = ?', [m.internalId]);
    start = rows.findIndex((r) => cmpRows(r, mrow) > 0);
    if (start < 0) start = rows.length;
  }
  const page = rows.slice(start, start + limit);
  const specs = await specsOf(ctx.db, page.map((r) => Number(r.id)));
  return { items: page.map((r) => fromRow(r, specs.get(Number(r.id))!)), limit };
}

// ---------------------------------------------------------------------------------------------
// Input validation (Nova's create schema + nova.compute.flavors.create checks)

function flavorInt(value: unknown, field: string, min: number): number {
  const bad = (why: string) => badRequest(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${why}`);
  let n: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw bad(`${show(value)} is not of type 'integer', 'string'`);
    n = value;
  } else if (typeof value === 'string') {
    if (!/^[0-9]+$/.test(value)) throw bad(`${show(value)} does not match '^[0-9]+$'`);
    n = Number(value);
  } else throw bad(`${show(value)} is not of type 'integer', 'string'`);
  if (n < min) throw bad(`${show(value)} is less than the minimum of ${min}`);
  if (n > MAX_INT) throw bad(`${show(value)} is greater than the maximum of ${MAX_INT}`);
  return n;
}

function parseRxtx(value: unknown): number {
  const bad = () => badRequest(`Invalid input for field/attribute rxtx_factor. Value: ${show(value)}. ${show(value)} is not a valid rxtx_factor`);
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value)) n = Number(value);
  else throw bad();
  if (!Number.isFinite(n) || n <= 0 || n > 3.40282e38) throw badRequest(`Invalid input received: 'rxtx_factor' argument must be a float between 0 and 3.40282e+38`);
  return n;
}

function parseFlavorId(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const bad = (why: string) => badRequest(`Invalid input for field/attribute id. Value: ${show(value)}. ${why}`);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw bad(`${show(value)} is not a valid id`);
    return String(value);
  }
  if (typeof value !== 'string') throw bad(`${show(value)} is not of type 'string', 'number', 'null'`);
  if (value.length < 1) throw bad(`${show(value)} is too short`);
  if (value.length > 255) throw bad(`${show(value)} is too long`);
  if (!/^(?! )[a-zA-Z0-9. _-]+(?<! )$/.test(value)) throw bad(`${show(value)} does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'`);
  return value;
}

const EXTRA_SPEC_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;

/** Validates an extra specs mapping (keys by Nova's metadata pattern, values strings or numbers ≤ 255 chars). */
function checkExtraSpecs(specs: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(specs)) {
    if (!EXTRA_SPEC_KEY.test(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    if (typeof v === 'string') {
      if ([...v].length > 255) throw badRequest(`Invalid input for field/attribute ${k}. Value: ${show(v)}. ${show(v)} is too long`);
      out[k] = v;
    } else if (typeof v === 'number' && Number.isFinite(v)) {
      const s = String(v);
      if (s.length > 255) throw badRequest(`Invalid input received: extra_specs value has more than 255 characters.`);
      out[k] = s;
    } else {
      throw badRequest(`Invalid input for field/attribute ${k}. Value: ${show(v)}. ${show(v)} is not of type 'string', 'number'`);
    }
  }
  return out;
}

async function verifyProject(ctx: Context, projectId: string): Promise<boolean> {
  const identity = ctx.services.identity;
  if (!identity) return true; // Nova too accepts the id when Keystone cannot be asked.
  return !!(await identity.getProject(projectId));
}

// ---------------------------------------------------------------------------------------------
// Routes

async function routes(app: FastifyInstance, ctx: Context) {
  app.get('/flavors', async (req) => {
    const { items, limit } = await listFlavors(ctx, req);
    const out: Record<string, unknown> = { flavors: items.map((f) => briefView(ctx, req, f)) };
    const links = nextLinks(ctx, req, 'flavors', items.length, items.at(-1)?.id, limit);
    if (links) out.flavors_links = links;
    return out;
  });

  app.get('/flavors/detail', async (req) => {
    const { items, limit } = await listFlavors(ctx, req);
    const specs = showsExtraSpecs(ctx, req);
    const out: Record<string, unknown> = { flavors: items.map((f) => flavorView(ctx, req, f, specs)) };
    const links = nextLinks(ctx, req, 'flavors/detail', items.length, items.at(-1)?.id, limit);
    if (links) out.flavors_links = links;
    return out;
  });

  app.get<{ Params: { id: string } }>('/flavors/:id', async (req) => {
    const f = await lookup(ctx, req, req.params.id);
    return { flavor: flavorView(ctx, req, f, showsExtraSpecs(ctx, req)) };
  });

  app.post('/flavors', async (req) => {
    ctx.policy.authorize('os_compute_api:os-flavor-manage:create', req.auth!, {});
    const body = bodyObject(req.body, 'flavor');
    const v255 = mv(req).atLeast('2.55');
    const keys = ['name', 'id', 'ram', 'vcpus', 'disk', 'OS-FLV-EXT-DATA:ephemeral', 'swap', 'rxtx_factor', 'os-flavor-access:is_public'];
    if (v255) keys.push('description');
    checkKeys(body, keys, ['name', 'ram', 'vcpus', 'disk']);
    const name = checkName(body.name, 'name');
    const id = parseFlavorId(body.id);
    const memoryMb = flavorInt(body.ram, 'ram', 1);
    const vcpus = flavorInt(body.vcpus, 'vcpus', 1);
    const rootGb = flavorInt(body.disk, 'disk', 0);
    const ephemeralGb = 'OS-FLV-EXT-DATA:ephemeral' in body ? flavorInt(body['OS-FLV-EXT-DATA:ephemeral'], 'OS-FLV-EXT-DATA:ephemeral', 0) : 0;
    const swapMb = 'swap' in body ? flavorInt(body.swap, 'swap', 0) : 0;
    const rxtxFactor = 'rxtx_factor' in body ? parseRxtx(body.rxtx_factor) : 1.0;
    const isPublic = 'os-flavor-access:is_public' in body ? parseBoolean(body['os-flavor-access:is_public'], 'os-flavor-access:is_public') : true;
    const description = v255 && 'description' in body ? checkDescription(body.description, 'description', 65535) : null;
    const f = await createFlavor(ctx.db, { id, name: name.trim(), memoryMb, vcpus, rootGb, ephemeralGb, swapMb, rxtxFactor, isPublic, description });
    // Nova answers 200 here (not 201) for backwards compatibility.
    return { flavor: flavorView(ctx, req, f, showsExtraSpecs(ctx, req)) };
  });

  app.put<{ Params: { id: string } }>('/flavors/:id', async (req) => {
    if (mv(req).below('2.55')) throw notFound('The resource could not be found.');
    ctx.policy.authorize('os_compute_api:os-flavor-manage:update', req.auth!, {});
    const body = bodyObject(req.body, 'flavor');
    checkKeys(body, ['description'], ['description']);
    const description = checkDescription(body.description, 'description', 65535);
    const f = await getFlavor(ctx.db, req.params.id);
    if (!f) throw notFound(`Flavor ${req.params.id} could not be found.`);
    await ctx.db.run('UPDATE flavors SET description = ?, updated_at = ? WHERE id = ?', [description, nowIso(), f.internalId]);
    const updated = (await getFlavor(ctx.db, req.params.id))!;
    return { flavor: flavorView(ctx, req, updated, showsExtraSpecs(ctx, req)) };
  });

  app.delete<{ Params: { id: string } }>('/flavors/:id', async (req, reply) => {
    ctx.policy.authorize('os_compute_api:os-flavor-manage:delete', req.auth!, {});
    await ctx.db.tx(async (t) => {
      await t.lock('compute:flavors');
      const f = await getFlavor(t, req.params.id);
      if (!f) throw notFound(`Flavor ${req.params.id} could not be found.`);
      // Soft delete: the row keeps describing servers built from it; access grants go away as in Nova.
      await t.run('UPDATE flavors SET deleted = id, deleted_at = ? WHERE id = ?', [nowIso(), f.internalId]);
      await t.run('DELETE FROM flavor_projects WHERE flavor_id = ?', [f.internalId]);
    });
    return reply.code(202).send();
  });

  // --- os-flavor-access ---------------------------------------------------------------------
  app.get<{ Params: { id: string } }>('/flavors/:id/os-flavor-access', async (req) => {
    ctx.policy.authorize('os_compute_api:os-flavor-access', req.auth!, {});
    const f = await lookup(ctx, req, req.params.id);
    if (f.isPublic) throw notFound('Access list not available for public flavors.');
    return { flavor_access: (await projectsOf(ctx.db, f)).map((p) => ({ flavor_id: f.id, tenant_id: p })) };
  });

  app.post<{ Params: { id: string } }>('/flavors/:id/action', async (req) => {
    const body = req.body;
    if (!isObject(body) || Object.keys(body).length !== 1) throw badRequest('Malformed request body');
    const action = Object.keys(body)[0];
    if (action === 'addTenantAccess') {
      ctx.policy.authorize('os_compute_api:os-flavor-access:add_tenant_access', req.auth!, {});
      const inner = bodyObject(body, 'addTenantAccess');
      checkKeys(inner, ['tenant'], ['tenant']);
      const tenant = tenantField(inner.tenant);
      if (!(await verifyProject(ctx, tenant))) throw badRequest(`Project ID ${tenant} is not a valid project.`);
      const f = await lookup(ctx, req, req.params.id);
      if (mv(req).atLeast('2.7') && f.isPublic) throw conflict('Can not add access to a public flavor.');
      await ctx.db.tx(async (t) => {
        await t.lock(`compute:flavor:${f.internalId}`);
        if (await t.get('SELECT 1 AS x FROM flavor_projects WHERE flavor_id = ? AND project_id = ?', [f.internalId, tenant])) {
          throw conflict(`Flavor access already exists for flavor ${f.id} and project ${tenant} combination.`);
        }
        await t.run('INSERT INTO flavor_projects (flavor_id, project_id) VALUES (?, ?)', [f.internalId, tenant]);
      });
      return { flavor_access: (await projectsOf(ctx.db, f)).map((p) => ({ flavor_id: f.id, tenant_id: p })) };
    }
    if (action === 'removeTenantAccess') {
      ctx.policy.authorize('os_compute_api:os-flavor-access:remove_tenant_access', req.auth!, {});
      const inner = bodyObject(body, 'removeTenantAccess');
      checkKeys(inner, ['tenant'], ['tenant']);
      const tenant = tenantField(inner.tenant);
      // Nova tolerates a project that no longer exists here, so stale grants can be removed.
      const f = await lookup(ctx, req, req.params.id);
      const r = await ctx.db.run('DELETE FROM flavor_projects WHERE flavor_id = ? AND project_id = ?', [f.internalId, tenant]);
      if (!r.changes) throw notFound(`Flavor access not found for ${f.id} / ${tenant} combination.`);
      return { flavor_access: (await projectsOf(ctx.db, f)).map((p) => ({ flavor_id: f.id, tenant_id: p })) };
    }
    throw badRequest(`There is no such action: ${action}`);
  });

  // --- os-extra_specs -------------------------------------------------------------------------
  app.get<{ Params: { id: string } }>('/flavors/:id/os-extra_specs', async (req) => {
    ctx.policy.authorize('os_compute_api:os-flavor-extra-specs:index', req.auth!, { project_id: req.auth!.projectId });
    const f = await lookup(ctx, req, req.params.id);
    return { extra_specs: f.extraSpecs };
  });

  app.post<{ Params: { id: string } }>('/flavors/:id/os-extra_specs', async (req) => {
    ctx.policy.authorize('os_compute_api:os-flavor-extra-specs:create', req.auth!, {});
    const body = req.body;
    if (!isObject(body)) throw badRequest(`Invalid input for field/attribute extra_specs. Value: ${show(body)}. ${show(body)} is not of type 'object'`);
    checkKeys(body, ['extra_specs'], ['extra_specs']);
    if (!isObject(body.extra_specs)) throw badRequest(`Invalid input for field/attribute extra_specs. Value: ${show(body.extra_specs)}. ${show(body.extra_specs)} is not of type 'object'`);
    const specs = checkExtraSpecs(body.extra_specs);
    const f = await lookup(ctx, req, req.params.id);
    await upsertSpecs(ctx.db, f, specs);
    return body;
  });

  app.get<{ Params: { id: string; key: string } }>('/flavors/:id/os-extra_specs/:key', async (req) => {
    ctx.policy.authorize('os_compute_api:os-flavor-extra-specs:show', req.auth!, { project_id: req.auth!.projectId });
    const f = await lookup(ctx, req, req.params.id);
    const key = req.params.key;
    if (!(key in f.extraSpecs)) throw notFound(`Flavor ${req.params.id} has no extra specs with key ${key}.`);
    return { [key]: f.extraSpecs[key] };
  });

  app.put<{ Params: { id: string; key: string } }>('/flavors/:id/os-extra_specs/:key', async (req) => {
    ctx.policy.authorize('os_compute_api:os-flavor-extra-specs:update', req.auth!, {});
    const body = req.body;
    if (!isObject(body)) throw badRequest(`Invalid input for field/attribute body. Value: ${show(body)}. ${show(body)} is not of type 'object'`);
    const n = Object.keys(body).length;
    if (n < 1) throw badRequest(`${show(body)} does not have enough properties`);
    if (n > 1) throw badRequest(`${show(body)} has too many properties`);
    const specs = checkExtraSpecs(body);
    if (!(req.params.key in body)) throw badRequest('Request body and URI mismatch');
    const f = await lookup(ctx, req, req.params.id);
    await upsertSpecs(ctx.db, f, specs);
    return body;
  });

  app.delete<{ Params: { id: string; key: string } }>('/flavors/:id/os-extra_specs/:key', async (req, reply) => {
    ctx.policy.authorize('os_compute_api:os-flavor-extra-specs:delete', req.auth!, {});
    const f = await lookup(ctx, req, req.params.id);
    const r = await ctx.db.run('DELETE FROM flavor_extra_specs WHERE flavor_id = ? AND key = ?', [f.internalId, req.params.key]);
    if (!r.changes) throw notFound(`Flavor ${req.params.id} has no extra specs with key ${req.params.key}.`);
    return reply.send();
  });
}

function tenantField(v: unknown): string {
  if (typeof v !== 'string') throw badRequest(`Invalid input for field/attribute tenant. Value: ${show(v)}. ${show(v)} is not of type 'string'`);
  if (v.length < 1 || v.length > 255) throw badRequest(`Invalid input for field/attribute tenant. Value: ${show(v)}. ${show(v)} is ${v.length < 1 ? 'too short' : 'too long'}`);
  return v;
}

async function upsertSpecs(q: Queryable, f: Flavor, specs: Record<string, string>) {
  await q.tx(async (t: Tx) => {
    for (const [k, v] of Object.entries(specs)) {
      await t.run('INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES (?, ?, ?) ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value', [f.internalId, k, v]);
    }
    await t.run('UPDATE flavors SET updated_at = ? WHERE id = ?', [nowIso(), f.internalId]);
  });
}

/** DevStack's flavors (lib/nova and lib/tempest), created once; an operator's later deletion sticks. */
const SEED: NewFlavor[] = [
  { id: '1', name: 'm1.tiny', memoryMb: 512, rootGb: 1, vcpus: 1 },
  { id: '2', name: 'm1.small', memoryMb: 2048, rootGb: 20, vcpus: 1 },
  { id: '3', name: 'm1.medium', memoryMb: 4096, rootGb: 40, vcpus: 2 },
  { id: '4', name: 'm1.large', memoryMb: 8192, rootGb: 80, vcpus: 4 },
  { id: '5', name: 'm1.xlarge', memoryMb: 16384, rootGb: 160, vcpus: 8 },
  { id: '42', name: 'm1.nano', memoryMb: 128, rootGb: 1, vcpus: 1, extraSpecs: { 'hw_rng:allowed': 'True' } },
  { id: '84', name: 'm1.micro', memoryMb: 192, rootGb: 1, vcpus: 1, extraSpecs: { 'hw_rng:allowed': 'True' } },
  { id: 'c1', name: 'cirros256', memoryMb: 256, rootGb: 1, vcpus: 1 },
  { id: 'd1', name: 'ds512M', memoryMb: 512, rootGb: 5, vcpus: 1 },
  { id: 'd2', name: 'ds1G', memoryMb: 1024, rootGb: 10, vcpus: 1 },
  { id: 'd3', name: 'ds2G', memoryMb: 2048, rootGb: 10, vcpus: 2 },
  { id: 'd4', name: 'ds4G', memoryMb: 4096, rootGb: 20, vcpus: 4 },
];

async function seed(ctx: Context) {
  if (!ctx.config.seed) return;
  for (const f of SEED) {
    // Any row with this id, even a deleted one, means it was seeded before: an operator's delete sticks.
    if (await ctx.db.get('SELECT 1 AS x FROM flavors WHERE flavorid = ?', [f.id!])) continue;
    try { await createFlavor(ctx.db, f); } catch (e) { if (!(e instanceof ApiError && e.status === 409)) throw e; }
  }
}

export const flavors: ComputePart = { migrations, routes, seed };
