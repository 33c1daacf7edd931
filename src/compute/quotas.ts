// Nova's quotas (the DB quota driver): os-quota-sets (per project and per user), os-quota-class-sets
// (the "default" class overrides the built-in defaults), GET /limits, and the enforcement functions
// the servers, keypairs and server groups code call inside their own transactions. Usage is never
// stored: it is counted from the live rows (instances, key_pairs, server_groups), so it cannot drift.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ComputePart } from './index.ts';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { ApiError, badRequest, forbidden } from '../core/errors.ts';
import { mv } from './microversion.ts';
import { bodyObject, checkQueryKeys, isObject, parseBoolean, queryAll, show, MAX_INT } from './common.ts';

/** Nova's resources with their built-in defaults ([quota] options; -1 = unlimited). */
export const QUOTA_DEFAULTS: Record<string, number> = {
  cores: 20,
  fixed_ips: -1,
  floating_ips: -1,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  injected_files: 5,
  instances: 10,
  key_pairs: 100,
  metadata_items: 128,
  ram: 51200,
  security_group_rules: -1,
  security_groups: -1,
  server_group_members: 10,
  server_groups: 10,
};
const RESOURCES = Object.keys(QUOTA_DEFAULTS).sort();

const NETWORK_QUOTAS = ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups'];
const FILE_QUOTAS = ['injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes'];

const migrations = [{
  id: 'compute-010-quotas',
  sql: `
CREATE TABLE quotas (
  project_id TEXT NOT NULL,
  resource TEXT NOT NULL,
  hard_limit INTEGER NOT NULL,
  created_at TEXT,
  updated_at TEXT,
  PRIMARY KEY (project_id, resource)
);
CREATE TABLE project_user_quotas (
  project_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  resource TEXT NOT NULL,
  hard_limit INTEGER NOT NULL,
  created_at TEXT,
  updated_at TEXT,
  PRIMARY KEY (project_id, user_id, resource)
);
CREATE TABLE quota_classes (
  class_name TEXT NOT NULL,
  resource TEXT NOT NULL,
  hard_limit INTEGER NOT NULL,
  created_at TEXT,
  updated_at TEXT,
  PRIMARY KEY (class_name, resource)
)`,
}];

// ---------------------------------------------------------------------------------------------
// Limits

async function rowsToMap(rows: { resource: string; hard_limit: number }[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.resource] = Number(r.hard_limit);
  return out;
}

/** Limits of a quota class: built-in defaults overridden by the class's rows. */
export async function getClassLimits(q: Queryable, className = 'default'): Promise<Record<string, number>> {
  const rows = await q.all('SELECT resource, hard_limit FROM quota_classes WHERE class_name = ?', [className]);
  const over = await rowsToMap(rows as any);
  const out: Record<string, number> = {};
  for (const r of RESOURCES) out[r] = r in over ? over[r] : QUOTA_DEFAULTS[r];
  return out;
}

async function projectOverrides(q: Queryable, projectId: string) {
  return rowsToMap(await q.all('SELECT resource, hard_limit FROM quotas WHERE project_id = ?', [projectId]) as any);
}

async function userOverrides(q: Queryable, projectId: string, userId: string) {
  return rowsToMap(await q.all('SELECT resource, hard_limit FROM project_user_quotas WHERE project_id = ? AND user_id = ?', [projectId, userId]) as any);
}

/**
 * Effective limits (-1 = unlimited): the project's own limit, else the default class; for a
 * user, the user's own limit, else the project's.
 */
export async function getQuotaLimits(q: Queryable, projectId: string, userId?: string): Promise<Record<string, number>> {
  const limits = await getClassLimits(q);
  Object.assign(limits, await projectOverrides(q, projectId));
  if (userId) Object.assign(limits, await userOverrides(q, projectId, userId));
  return limits;
}

// ---------------------------------------------------------------------------------------------
// Usage (counted from live rows)

export interface InstanceUsage { instances: number; cores: number; ram: number }

/** Live instances, vCPUs and RAM of a project (and only one user's when userId is given). */
export async function countInstances(q: Queryable, projectId: string, userId?: string): Promise<InstanceUsage> {
  const row = userId
    ? await q.get('SELECT COUNT(*) AS n, COALESCE(SUM(vcpus), 0) AS c, COALESCE(SUM(memory_mb), 0) AS r FROM instances WHERE project_id = ? AND user_id = ? AND deleted = 0', [projectId, userId])
    : await q.get('SELECT COUNT(*) AS n, COALESCE(SUM(vcpus), 0) AS c, COALESCE(SUM(memory_mb), 0) AS r FROM instances WHERE project_id = ? AND deleted = 0', [projectId]);
  return { instances: Number(row?.n ?? 0), cores: Number(row?.c ?? 0), ram: Number(row?.r ?? 0) };
}

async function countServerGroups(q: Queryable, projectId: string, userId?: string): Promise<number> {
  const row = userId
    ? await q.get('SELECT COUNT(*) AS n FROM server_groups WHERE project_id = ? AND user_id = ? AND deleted = 0', [projectId, userId])
    : await q.get('SELECT COUNT(*) AS n FROM server_groups WHERE project_id = ? AND deleted = 0', [projectId]);
  return Number(row?.n ?? 0);
}

/**
 * in_use per resource as Nova's os-quota-sets detail and /limits show it: instances, cores, ram
 * and server_groups are counted; key_pairs and server_group_members are always 0 there (they are
 * per user / per group); the rest are absolute limits.
 */
async function usages(q: Queryable, projectId: string, userId?: string): Promise<Record<string, number>> {
  const inst = await countInstances(q, projectId, userId);
  const out: Record<string, number> = {};
  for (const r of RESOURCES) out[r] = 0;
  out.instances = inst.instances;
  out.cores = inst.cores;
  out.ram = inst.ram;
  out.server_groups = await countServerGroups(q, projectId, userId);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Enforcement (the contract with servers, keypairs and server groups)

const unlimited = (n: number) => n < 0;

interface Check { limits: Record<string, number>; used: Record<string, number> }

/** The scopes to check: the project, plus the user when the user has own limits for these resources. */
async function scopes(q: Queryable, projectId: string, userId: string | undefined, resources: string[]): Promise<Check[]> {
  const out: Check[] = [];
  const projectLimits = await getQuotaLimits(q, projectId);
  const inst = await countInstances(q, projectId);
  out.push({ limits: projectLimits, used: { instances: inst.instances, cores: inst.cores, ram: inst.ram } });
  if (userId) {
    const own = await userOverrides(q, projectId, userId);
    if (resources.some((r) => r in own)) {
      const u = await countInstances(q, projectId, userId);
      out.push({ limits: { ...projectLimits, ...own }, used: { instances: u.instances, cores: u.cores, ram: u.ram } });
    }
  }
  return out;
}

function overQuota(overs: string[], reqs: string[], used: string[], allowed: string[]): ApiError {
  const o = overs.join(', ');
  return forbidden(`Quota exceeded for ${o}: Requested ${reqs.join(', ')}, but already used ${used.join(', ')} of ${allowed.join(', ')} ${o}`);
}

/**
 * Checks a server create against the instances/cores/ram quotas, inside the caller's
 * transaction (which must insert the instance rows before it commits):
 *   want.instances = max_count; want.cores = vCPUs × max_count; want.ram = MB × max_count.
 * Returns the largest count in [minCount, max_count] that fits; throws 403 (Nova's
 * TooManyInstances wording) when not even minCount fits. Serialised per project with
 * t.lock('quota:<project>') so concurrent creates never exceed a limit.
 */
export async function enforceServerQuota(t: Tx, projectId: string, userId: string,
  want: { instances: number; cores: number; ram: number }, opts: { minCount?: number } = {}): Promise<number> {
  await t.lock(`quota:${projectId}`);
  const maxCount = want.instances;
  const minCount = Math.min(opts.minCount ?? maxCount, maxCount);
  if (maxCount <= 0) return 0;
  const perCores = want.cores / maxCount;
  const perRam = want.ram / maxCount;
  const checks = await scopes(t, projectId, userId, ['instances', 'cores', 'ram']);
  let count = maxCount;
  for (const c of checks) {
    const deltas: Record<string, number> = { instances: count, cores: perCores * count, ram: perRam * count };
    const overs = ['instances', 'cores', 'ram'].filter((r) => !unlimited(c.limits[r]) && c.used[r] + deltas[r] > c.limits[r]);
    if (!overs.length) continue;
    // Nova's headroom: what is left per resource, unlimited cores/ram following the instances headroom.
    const headroom: Record<string, number> = {};
    for (const r of ['instances', 'cores', 'ram']) headroom[r] = c.limits[r] - c.used[r];
    if (unlimited(c.limits.instances)) headroom.instances = Infinity;
    if (unlimited(c.limits.cores)) headroom.cores = perCores ? headroom.instances * perCores : headroom.instances;
    if (unlimited(c.limits.ram)) headroom.ram = perRam ? headroom.instances * perRam : headroom.instances;
    let allowedCount = headroom.instances;
    if (perCores) allowedCount = Math.min(allowedCount, Math.floor(headroom.cores / perCores));
    if (perRam) allowedCount = Math.min(allowedCount, Math.floor(headroom.ram / perRam));
    if (allowedCount >= minCount && allowedCount > 0) { count = Math.min(count, allowedCount); continue; }
    const requested: Record<string, string> = {
      instances: minCount === maxCount ? String(minCount) : `${minCount}-${maxCount}`,
      cores: String(want.cores), ram: String(want.ram),
    };
    throw overQuota(overs, overs.map((r) => requested[r]), overs.map((r) => String(c.limits[r] - headroom[r])), overs.map((r) => String(c.limits[r])));
  }
  return count;
}

/**
 * Checks the growth of a resize (new − old flavor; only increases count) against cores and ram.
 * Takes the same per-project lock as enforceServerQuota.
 */
export async function enforceResizeQuota(t: Tx, projectId: string, userId: string, deltaCores: number, deltaRam: number): Promise<void> {
  const deltas: Record<string, number> = { cores: Math.max(0, deltaCores), ram: Math.max(0, deltaRam) };
  if (!deltas.cores && !deltas.ram) return;
  await t.lock(`quota:${projectId}`);
  for (const c of await scopes(t, projectId, userId, ['cores', 'ram'])) {
    const overs = ['cores', 'ram'].filter((r) => deltas[r] > 0 && !unlimited(c.limits[r]) && c.used[r] + deltas[r] > c.limits[r]);
    if (overs.length) {
      throw overQuota(overs, overs.map((r) => String(deltas[r])), overs.map((r) => String(c.used[r])), overs.map((r) => String(c.limits[r])));
    }
  }
}

/** Server metadata items: 403 "Quota exceeded for metadata_items..." as Nova's servers API says it. */
export async function enforceMetadataQuota(q: Queryable, projectId: string, metadataItems: number): Promise<void> {
  const limit = (await getQuotaLimits(q, projectId)).metadata_items;
  if (!unlimited(limit) && metadataItems > limit) {
    throw forbidden(`Quota exceeded for metadata_items: Requested ${metadataItems}, but already used 0 of ${limit} metadata_items`);
  }
}

/** Personality files (before 2.57): count, path length and content size limits. */
export async function enforceInjectedFilesQuota(q: Queryable, projectId: string, files: { path: string; contents: string }[]): Promise<void> {
  const limits = await getQuotaLimits(q, projectId);
  if (!unlimited(limits.injected_files) && files.length > limits.injected_files) throw forbidden('Personality file limit exceeded');
  for (const f of files) {
    if (!unlimited(limits.injected_file_path_bytes) && Buffer.byteLength(f.path) > limits.injected_file_path_bytes) {
      throw forbidden(`Personality file path exceeds maximum ${limits.injected_file_path_bytes}`);
    }
    const size = Buffer.from(f.contents, 'base64').length;
    if (!unlimited(limits.injected_file_content_bytes) && size > limits.injected_file_content_bytes) {
      throw forbidden(`Personality file content exceeds maximum ${limits.injected_file_content_bytes}`);
    }
  }
}

/**
 * A simple count-based limit (key_pairs per user, server_groups per project, members per group):
 * throws 403 with `message` when `used + 1` would pass the limit for this project/user.
 */
export async function enforceCountQuota(q: Queryable, projectId: string, userId: string | undefined, resource: string,
  used: number, message: string): Promise<void> {
  const limit = (await getQuotaLimits(q, projectId, userId))[resource];
  if (!unlimited(limit) && used + 1 > limit) throw forbidden(message);
}

// ---------------------------------------------------------------------------------------------
// API

/** Resources a microversion no longer shows or accepts (2.36 dropped the network ones, 2.57 the file ones). */
function filtered(req: FastifyRequest, networkSince = '2.36'): string[] {
  const v = mv(req);
  if (v.atLeast('2.57')) return [...NETWORK_QUOTAS, ...FILE_QUOTAS];
  if (v.atLeast(networkSince)) return [...NETWORK_QUOTAS];
  return [];
}

function format(values: Record<string, unknown>, hide: string[], id?: string) {
  const out: Record<string, unknown> = {};
  if (id !== undefined) out.id = id;
  for (const r of RESOURCES) if (!hide.includes(r) && r in values) out[r] = values[r];
  return out;
}

async function verifyProject(ctx: Context, projectId: string) {
  const identity = ctx.services.identity;
  if (identity && !(await identity.getProject(projectId))) throw badRequest(`Project ID ${projectId} is not a valid project.`);
}

/** user_id as Nova reads it (the first value); 2.75+ rejects any other query parameter. */
function userParam(req: FastifyRequest): string | undefined {
  if (mv(req).atLeast('2.75')) checkQueryKeys(req, ['user_id']);
  return queryAll(req, 'user_id')[0];
}

function quotaValue(key: string, value: unknown): number {
  const bad = (why: string) => badRequest(`Invalid input for field/attribute ${key}. Value: ${show(value)}. ${why}`);
  let n: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw bad(`${show(value)} is not of type 'integer', 'string'`);
    n = value;
  } else if (typeof value === 'string') {
    if (!/^-?[0-9]+$/.test(value)) throw bad(`${show(value)} does not match '^-?[0-9]+$'`);
    n = Number(value);
  } else throw bad(`${show(value)} is not of type 'integer', 'string'`);
  if (n < -1) throw bad(`${show(value)} is less than the minimum of -1`);
  if (n > MAX_INT) throw bad(`${show(value)} is greater than the maximum of ${MAX_INT}`);
  return n;
}

async function detailOf(q: Queryable, projectId: string, userId?: string) {
  const limits = await getQuotaLimits(q, projectId, userId);
  const used = await usages(q, projectId, userId);
  const out: Record<string, { in_use: number; limit: number; reserved: number }> = {};
  for (const r of RESOURCES) out[r] = { in_use: used[r], limit: limits[r], reserved: 0 };
  return out;
}

const inf = (n: number) => (n === -1 ? Infinity : n);
const sumQ = (a: number, b: number) => (a === -1 || b === -1 ? -1 : a + b);

/** Nova's settable range per resource: at least what is used (and granted to users), at most what the project has left. */
async function settable(q: Queryable, projectId: string, userId?: string): Promise<Record<string, { minimum: number; maximum: number }>> {
  const projectLimits = await getQuotaLimits(q, projectId);
  const used = await usages(q, projectId);
  const userSums = new Map<string, number>();
  for (const r of await q.all('SELECT resource, SUM(hard_limit) AS s FROM project_user_quotas WHERE project_id = ? GROUP BY resource', [projectId])) {
    userSums.set(r.resource, Number(r.s));
  }
  const remains = (r: string) => (projectLimits[r] === -1 ? -1 : projectLimits[r] - (userSums.get(r) ?? 0));
  const out: Record<string, { minimum: number; maximum: number }> = {};
  if (userId) {
    const own = await userOverrides(q, projectId, userId);
    const userUsed = await usages(q, projectId, userId);
    for (const r of RESOURCES) out[r] = { minimum: userUsed[r], maximum: sumQ(remains(r), own[r] ?? 0) };
  } else {
    for (const r of RESOURCES) {
      const granted = projectLimits[r] === -1 ? 0 : projectLimits[r] - remains(r);
      out[r] = { minimum: Math.max(granted, used[r]), maximum: -1 };
    }
  }
  return out;
}

async function routes(app: FastifyInstance, ctx: Context) {
  app.get<{ Params: { id: string } }>('/os-quota-sets/:id', async (req) => {
    const id = req.params.id;
    ctx.policy.authorize('os_compute_api:os-quota-sets:show', req.auth!, { project_id: id });
    const userId = userParam(req);
    await verifyProject(ctx, id);
    return { quota_set: format(await getQuotaLimits(ctx.db, id, userId), filtered(req), id) };
  });

  app.get<{ Params: { id: string } }>('/os-quota-sets/:id/detail', async (req) => {
    const id = req.params.id;
    ctx.policy.authorize('os_compute_api:os-quota-sets:detail', req.auth!, { project_id: id });
    const userId = userParam(req);
    await verifyProject(ctx, id);
    return { quota_set: format(await detailOf(ctx.db, id, userId), filtered(req), id) };
  });

  app.get<{ Params: { id: string } }>('/os-quota-sets/:id/defaults', async (req) => {
    const id = req.params.id;
    ctx.policy.authorize('os_compute_api:os-quota-sets:defaults', req.auth!, { project_id: id });
    await verifyProject(ctx, id);
    return { quota_set: format(await getClassLimits(ctx.db), filtered(req), id) };
  });

  app.put<{ Params: { id: string } }>('/os-quota-sets/:id', async (req) => {
    const id = req.params.id;
    ctx.policy.authorize('os_compute_api:os-quota-sets:update', req.auth!, { project_id: id });
    const body = bodyObject(req.body, 'quota_set');
    const userId = userParam(req);
    const hide = filtered(req);
    const values: Record<string, number> = {};
    let force = false;
    for (const [k, v] of Object.entries(body)) {
      if (k === 'force') { force = parseBoolean(v, 'force'); continue; }
      if (!RESOURCES.includes(k) || hide.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
      // Nova skips empty values ("", null) rather than rejecting them.
      if (v === '' || v === null) continue;
      values[k] = quotaValue(k, v);
    }
    await verifyProject(ctx, id);
    await ctx.db.tx(async (t) => {
      await t.lock(`quota:${id}`);
      if (!force) {
        const range = await settable(t, id, userId);
        for (const [k, v] of Object.entries(values)) {
          const { minimum, maximum } = range[k];
          if (inf(v) < inf(minimum)) throw badRequest(`Quota limit ${v} for ${k} must be greater than or equal to already used and reserved ${minimum}.`);
          if (inf(v) > inf(maximum)) throw badRequest(`Quota limit ${v} for ${k} must be less than or equal to ${maximum}.`);
        }
      }
      const now = new Date().toISOString();
      for (const [k, v] of Object.entries(values)) {
        if (userId) {
          await t.run(`INSERT INTO project_user_quotas (project_id, user_id, resource, hard_limit, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (project_id, user_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit, updated_at = excluded.created_at`, [id, userId, k, v, now]);
        } else {
          await t.run(`INSERT INTO quotas (project_id, resource, hard_limit, created_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit, updated_at = excluded.created_at`, [id, k, v, now]);
        }
      }
    });
    return { quota_set: format(await getQuotaLimits(ctx.db, id, userId), hide) };
  });

  app.delete<{ Params: { id: string } }>('/os-quota-sets/:id', async (req, reply) => {
    const id = req.params.id;
    ctx.policy.authorize('os_compute_api:os-quota-sets:delete', req.auth!, { project_id: id });
    const userId = userParam(req);
    await ctx.db.tx(async (t) => {
      await t.lock(`quota:${id}`);
      if (userId) await t.run('DELETE FROM project_user_quotas WHERE project_id = ? AND user_id = ?', [id, userId]);
      else {
        await t.run('DELETE FROM quotas WHERE project_id = ?', [id]);
        await t.run('DELETE FROM project_user_quotas WHERE project_id = ?', [id]);
      }
    });
    return reply.code(202).send();
  });

  app.get<{ Params: { id: string } }>('/os-quota-class-sets/:id', async (req) => {
    ctx.policy.authorize('os_compute_api:os-quota-class-sets:show', req.auth!, {});
    const hide = [...filtered(req, '2.50'), ...(mv(req).below('2.50') ? ['server_groups', 'server_group_members'] : [])];
    return { quota_class_set: format(await getClassLimits(ctx.db, req.params.id), hide, req.params.id) };
  });

  app.put<{ Params: { id: string } }>('/os-quota-class-sets/:id', async (req) => {
    ctx.policy.authorize('os_compute_api:os-quota-class-sets:update', req.auth!, {});
    const name = req.params.id;
    if (name.length < 1 || name.length > 255) throw badRequest('Invalid input received: quota_class_name has a length outside 1..255.');
    const body = bodyObject(req.body, 'quota_class_set');
    const accepted = filtered(req, '2.50');
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(body)) {
      if (!RESOURCES.includes(k) || accepted.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
      values[k] = quotaValue(k, v);
    }
    await ctx.db.tx(async (t) => {
      const now = new Date().toISOString();
      for (const [k, v] of Object.entries(values)) {
        await t.run(`INSERT INTO quota_classes (class_name, resource, hard_limit, created_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit, updated_at = excluded.created_at`, [name, k, v, now]);
      }
    });
    const hide = [...accepted, ...(mv(req).below('2.50') ? ['server_groups', 'server_group_members'] : [])];
    return { quota_class_set: format(await getClassLimits(ctx.db, name), hide) };
  });

  app.get('/limits', async (req) => {
    ctx.policy.authorize('os_compute_api:limits', req.auth!, {});
    if (mv(req).atLeast('2.75')) checkQueryKeys(req, ['tenant_id']);
    let projectId = req.auth!.projectId ?? '';
    const tenant = queryAll(req, 'tenant_id');
    if (tenant.length) {
      projectId = tenant[tenant.length - 1];
      ctx.policy.authorize('os_compute_api:limits:other_project', req.auth!, {});
    }
    const v = mv(req);
    const hide = v.atLeast('2.57') ? ['floating_ips', 'security_groups', 'security_group_rules', 'injected_files', 'injected_file_content_bytes']
      : v.atLeast('2.36') ? ['floating_ips', 'security_groups', 'security_group_rules'] : [];
    const d = await detailOf(ctx.db, projectId);
    const names: Record<string, string[]> = {
      ram: ['maxTotalRAMSize'], instances: ['maxTotalInstances'], cores: ['maxTotalCores'], key_pairs: ['maxTotalKeypairs'],
      floating_ips: ['maxTotalFloatingIps'], metadata_items: ['maxServerMeta', 'maxImageMeta'], injected_files: ['maxPersonality'],
      injected_file_content_bytes: ['maxPersonalitySize'], security_groups: ['maxSecurityGroups'],
      security_group_rules: ['maxSecurityGroupRules'], server_groups: ['maxServerGroups'], server_group_members: ['maxServerGroupMembers'],
    };
    const absolute: Record<string, number> = {};
    for (const [res, keys] of Object.entries(names)) {
      if (hide.includes(res)) continue;
      for (const k of keys) if (!(k === 'maxImageMeta' && v.atLeast('2.39'))) absolute[k] = d[res].limit;
    }
    const used: Record<string, string> = {
      totalRAMUsed: 'ram', totalCoresUsed: 'cores', totalInstancesUsed: 'instances', totalFloatingIpsUsed: 'floating_ips',
      totalSecurityGroupsUsed: 'security_groups', totalServerGroupsUsed: 'server_groups',
    };
    for (const [k, res] of Object.entries(used)) if (!hide.includes(res)) absolute[k] = d[res].in_use;
    return { limits: { rate: [], absolute } };
  });
}

export const quotas: ComputePart = { migrations, routes };
