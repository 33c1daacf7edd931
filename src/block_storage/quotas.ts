// Cinder quotas: volumes, snapshots and gigabytes per project (defaults 10, 10, 1000) and per
// volume type (volumes_<type>, snapshots_<type>, gigabytes_<type>, unlimited by default), counted
// from the live rows and checked under a per-project lock inside the creating transaction; the
// os-quota-sets API (show with ?usage=True, defaults, update, delete = reset) and the
// os-quota-class-sets API (the `default` class gives every project its defaults).
import type { FastifyInstance } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';

const DEFAULTS: Record<string, number> = { volumes: 10, snapshots: 10, gigabytes: 1000, backups: 10, backup_gigabytes: 1000, groups: 10, per_volume_gigabytes: -1 };
const COUNTED = ['volumes', 'snapshots', 'gigabytes'];

async function typeNames(q: Queryable): Promise<string[]> {
  return (await q.all('SELECT name FROM cinder_volume_types WHERE deleted = 0 ORDER BY name')).map((r) => r.name);
}

/** The defaults of a quota class: Cinder's built-in ones, per-type ones, then the class's rows. */
async function classLimits(q: Queryable, className = 'default') {
  const out: Record<string, number> = { ...DEFAULTS };
  for (const t of await typeNames(q)) for (const r of COUNTED) out[`${r}_${t}`] = -1;
  for (const r of await q.all('SELECT resource, hard_limit FROM cinder_quota_classes WHERE class_name = ?', [className])) {
    if (r.resource in out) out[r.resource] = Number(r.hard_limit);
  }
  return out;
}

async function limits(q: Queryable, project: string) {
  const out = await classLimits(q);
  for (const r of await q.all('SELECT resource, hard_limit FROM cinder_quotas WHERE project_id = ?', [project])) {
    if (r.resource in out) out[r.resource] = Number(r.hard_limit);
  }
  return out;
}

async function used(q: Queryable, project: string) {
  const out: Record<string, number> = { volumes: 0, snapshots: 0, gigabytes: 0 };
  out.groups = Number((await q.get("SELECT COUNT(*) AS n FROM cinder_groups WHERE project_id = ? AND status <> 'deleting'", [project]))?.n ?? 0);
  const vols = await q.all(`SELECT vt.name AS type, COUNT(*) AS n, COALESCE(SUM(v.size), 0) AS g FROM cinder_volumes v
    LEFT JOIN cinder_volume_types vt ON vt.id = v.volume_type_id WHERE v.project_id = ? AND v.status <> 'deleting' GROUP BY vt.name`, [project]);
  const snaps = await q.all(`SELECT vt.name AS type, COUNT(*) AS n, COALESCE(SUM(s.size), 0) AS g FROM cinder_snapshots s
    LEFT JOIN cinder_volumes v ON v.id = s.volume_id LEFT JOIN cinder_volume_types vt ON vt.id = v.volume_type_id
    WHERE s.project_id = ? AND s.status <> 'deleting' GROUP BY vt.name`, [project]);
  const add = (k: string, n: number) => { out[k] = (out[k] ?? 0) + n; };
  for (const r of vols) {
    add('volumes', Number(r.n)); add('gigabytes', Number(r.g));
    if (r.type) { add(`volumes_${r.type}`, Number(r.n)); add(`gigabytes_${r.type}`, Number(r.g)); }
  }
  for (const r of snaps) {
    add('snapshots', Number(r.n)); add('gigabytes', Number(r.g));
    if (r.type) { add(`snapshots_${r.type}`, Number(r.n)); add(`gigabytes_${r.type}`, Number(r.g)); }
  }
  return out;
}

export async function quotaUsage(q: Queryable, project: string) {
  const l = await limits(q, project);
  const u = await used(q, project);
  return {
    volumes: { limit: l.volumes, in_use: u.volumes }, snapshots: { limit: l.snapshots, in_use: u.snapshots },
    gigabytes: { limit: l.gigabytes, in_use: u.gigabytes },
  };
}

/**
 * Checks that adding volumes/snapshots/gigabytes stays within the project's limits, and within
 * the volume type's when `volumeType` (a type name) is given (413 as Cinder).
 */
export async function enforceVolumeQuota(t: Tx, project: string, add: { volumes?: number; snapshots?: number; gigabytes?: number; volumeType?: string }) {
  await t.lock(`cinder:quota:${project}`);
  const l = await limits(t, project);
  const u = await used(t, project);
  const gb = add.gigabytes ?? 0;
  const over = (m: string) => new ApiError(413, m, { name: 'overLimit' });
  if (l.per_volume_gigabytes >= 0 && add.volumes && gb > l.per_volume_gigabytes) {
    throw over(`Volume size ${gb}G is larger than the per-volume limit of ${l.per_volume_gigabytes}G`);
  }
  const suffixes = ['', ...(add.volumeType ? [`_${add.volumeType}`] : [])];
  for (const sfx of suffixes) {
    const lim = (k: string) => l[`${k}${sfx}`] ?? -1;
    const use = (k: string) => u[`${k}${sfx}`] ?? 0;
    if (gb && lim('gigabytes') >= 0 && use('gigabytes') + gb > lim('gigabytes')) {
      throw over(`Requested volume or snapshot exceeds allowed gigabytes${sfx} quota. Requested ${gb}G, quota is ${lim('gigabytes')}G and ${use('gigabytes')}G has been consumed.`);
    }
    if (add.volumes && lim('volumes') >= 0 && use('volumes') + add.volumes > lim('volumes')) {
      throw over(`Maximum number of volumes allowed (${lim('volumes')}) exceeded for quota 'volumes${sfx}'.`);
    }
    if (add.snapshots && lim('snapshots') >= 0 && use('snapshots') + add.snapshots > lim('snapshots')) {
      throw over(`Maximum number of snapshots allowed (${lim('snapshots')}) exceeded for quota 'snapshots${sfx}'.`);
    }
  }
}

/** Cinder's group quota (GROUP_QUOTAS): one more group within the project's `groups` limit (413). */
export async function enforceGroupQuota(t: Tx, project: string) {
  await t.lock(`cinder:quota:${project}`);
  const l = await limits(t, project);
  const n = Number((await t.get("SELECT COUNT(*) AS n FROM cinder_groups WHERE project_id = ? AND status <> 'deleting'", [project]))?.n ?? 0);
  if (l.groups >= 0 && n + 1 > l.groups) throw new ApiError(413, `Maximum number of groups allowed (${l.groups}) exceeded for quota 'groups'.`, { name: 'overLimit' });
}

/** The integer limits of a quota_set / quota_class_set body, 400 for unknown keys or bad values. */
function parseLimits(body: Record<string, unknown>, known: Record<string, number>, what: string): [string, number][] {
  const set: [string, number][] = [];
  for (const [k, v] of Object.entries(body)) {
    if (k === 'tenant_id' || k === 'id' || k === 'class_name') continue;
    if (!(k in known)) throw badRequest(`Bad key(s) in ${what}: ${k}`);
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < -1 || n > 0x7fffffff) {
      throw badRequest(`Invalid input received: Quota value ${JSON.stringify(v)} for ${k} must be an integer of -1 or more.`);
    }
    set.push([k, n]);
  }
  return set;
}

export async function quotaRoutes(app: FastifyInstance, ctx: Context) {
  const show = async (project: string, usage: boolean) => {
    const l = await limits(ctx.db, project);
    if (!usage) return { id: project, ...l };
    const u = await used(ctx.db, project);
    const out: Record<string, unknown> = { id: project };
    for (const [k, v] of Object.entries(l)) out[k] = { limit: v, in_use: u[k] ?? 0, reserved: 0, allocated: 0 };
    return out;
  };
  app.get<{ Params: { target: string } }>('/os-quota-sets/:target/defaults', async (req) => {
    ctx.policy.authorize('volume_extension:quotas:show', req.auth!, { project_id: req.params.target });
    return { quota_set: { id: req.params.target, ...(await classLimits(ctx.db)) } };
  });
  app.get<{ Params: { target: string } }>('/os-quota-sets/:target', async (req) => {
    ctx.policy.authorize('volume_extension:quotas:show', req.auth!, { project_id: req.params.target });
    const usage = String((req.query as Record<string, string>).usage ?? '').toLowerCase() === 'true';
    return { quota_set: await show(req.params.target, usage) };
  });
  app.put<{ Params: { target: string } }>('/os-quota-sets/:target', async (req) => {
    ctx.policy.authorize('volume_extension:quotas:update', req.auth!, { project_id: req.params.target });
    const body = (req.body as { quota_set?: Record<string, unknown> } | null)?.quota_set;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Missing required element quota_set in request body.');
    const set = parseLimits(body, await limits(ctx.db, req.params.target), 'quota set');
    await ctx.db.tx(async (t) => {
      for (const [k, n] of set) {
        await t.run('INSERT INTO cinder_quotas (project_id, resource, hard_limit) VALUES (?, ?, ?) ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit', [req.params.target, k, n]);
      }
    });
    const { id: _id, ...rest } = await show(req.params.target, false);
    return { quota_set: rest };
  });
  app.delete<{ Params: { target: string } }>('/os-quota-sets/:target', async (req, reply) => {
    ctx.policy.authorize('volume_extension:quotas:delete', req.auth!, { project_id: req.params.target });
    await ctx.db.run('DELETE FROM cinder_quotas WHERE project_id = ?', [req.params.target]);
    return reply.code(200).send();
  });

  app.get<{ Params: { name: string } }>('/os-quota-class-sets/:name', async (req) => {
    ctx.policy.authorize('volume_extension:quota_classes', req.auth!, {});
    return { quota_class_set: { id: req.params.name, ...(await classLimits(ctx.db, req.params.name)) } };
  });
  app.put<{ Params: { name: string } }>('/os-quota-class-sets/:name', async (req) => {
    ctx.policy.authorize('volume_extension:quota_classes', req.auth!, {});
    const name = req.params.name;
    if (name.length > 255) throw badRequest('Invalid input received: quota class name must be at most 255 characters.');
    const body = (req.body as { quota_class_set?: Record<string, unknown> } | null)?.quota_class_set;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Missing required element quota_class_set in request body.');
    const set = parseLimits(body, await classLimits(ctx.db, name), 'quota class set');
    await ctx.db.tx(async (t) => {
      for (const [k, n] of set) {
        await t.run('INSERT INTO cinder_quota_classes (class_name, resource, hard_limit) VALUES (?, ?, ?) ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit', [name, k, n]);
      }
    });
    return { quota_class_set: await classLimits(ctx.db, name) };
  });
}
