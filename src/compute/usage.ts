// Nova's os-simple-tenant-usage: per-project usage over a time window (vCPU, RAM and disk
// hours) computed from the instances' launched_at/terminated_at and flavor columns, with the
// per-server breakdown (detailed=1 / show) and 2.40 paging by instance uuid. Also mounts the
// os-migrations list (src/compute/migrations.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import { badRequest, notFound } from '../core/errors.ts';
import { mv } from './microversion.ts';
import { checkQueryKeys, limitAndMarker, queryAll, MAX_LIMIT } from './common.ts';
import { migrationRoutes } from './migrations.ts';

/** Nova accepts these three formats (no zone: UTC). */
function parseTime(s: string | undefined): Date {
  if (!s) return new Date();
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?$/.exec(s);
  if (!m || (s.includes(' ') && !m[7])) throw badRequest('Invalid input received: Datetime is in invalid format');
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], m[7] ? Math.floor(Number(m[7]) * 1000) : 0));
  if (Number.isNaN(d.getTime()) || d.getUTCDate() !== +m[3]) throw badRequest('Invalid input received: Datetime is in invalid format');
  return d;
}

/** Python's datetime.isoformat() of a naive UTC time: microseconds only when non-zero. */
function pyTime(d: Date): string {
  const iso = d.toISOString().replace(/Z$/, '');
  return iso.endsWith('.000') ? iso.slice(0, -4) : `${iso}000`;
}

function params(req: FastifyRequest) {
  const start = parseTime(queryAll(req, 'start')[0]);
  let stop = parseTime(queryAll(req, 'end')[0]);
  if (!(start < stop)) throw badRequest('Invalid start time. The start time cannot occur after the end time.');
  const now = new Date();
  if (stop > now) stop = now;
  return { start, stop, detailed: queryAll(req, 'detailed')[0] === '1' };
}

async function usages(ctx: Context, req: FastifyRequest, start: Date, stop: Date, tenantId: string | undefined, detailed: boolean) {
  const v = mv(req);
  let limit = MAX_LIMIT;
  let marker: string | undefined;
  if (v.atLeast('2.40')) ({ limit, marker } = limitAndMarker(req));
  // Nova's get_active_by_window_joined: launched before the window ends, not terminated before it starts.
  const args: any[] = [stop.toISOString(), start.toISOString()];
  let tenantFilter = '';
  if (tenantId !== undefined) { tenantFilter = ' AND i.project_id = ?'; args.push(tenantId); }
  let rows = await ctx.db.all(`SELECT i.*, (SELECT f.name FROM flavors f WHERE f.flavorid = i.flavor_id ORDER BY f.deleted LIMIT 1) AS flavor_name
    FROM instances i WHERE i.launched_at IS NOT NULL AND i.launched_at < ? AND (i.terminated_at IS NULL OR i.terminated_at > ?)${tenantFilter}
    ORDER BY i.created_at, i.uuid`, args);
  if (marker !== undefined) {
    const idx = rows.findIndex((r) => r.uuid === marker);
    if (idx < 0) throw badRequest(`Marker ${marker} could not be found.`);
    rows = rows.slice(idx + 1);
  }
  rows = rows.slice(0, limit);
  const byTenant = new Map<string, any>();
  const all: any[] = [];
  const now = Date.now();
  for (const r of rows) {
    const launched = new Date(r.launched_at);
    const terminated = r.terminated_at ? new Date(r.terminated_at) : null;
    const from = launched > start ? launched : start;
    const to = terminated && terminated < stop ? terminated : stop;
    const hours = Math.max(0, (to.getTime() - from.getTime()) / 3_600_000);
    const info = {
      hours, flavor: r.flavor_name ?? '', instance_id: r.uuid, name: r.display_name, tenant_id: r.project_id,
      memory_mb: Number(r.memory_mb), local_gb: Number(r.root_gb) + Number(r.ephemeral_gb), vcpus: Number(r.vcpus),
      started_at: pyTime(launched), ended_at: terminated ? pyTime(terminated) : null,
      state: terminated ? 'terminated' : r.vm_state,
      uptime: Math.floor(((terminated ? terminated.getTime() : now) - launched.getTime()) / 1000),
    };
    let s = byTenant.get(r.project_id);
    if (!s) {
      s = { tenant_id: r.project_id, ...(detailed ? { server_usages: [] } : {}), total_local_gb_usage: 0, total_vcpus_usage: 0,
        total_memory_mb_usage: 0, total_hours: 0, start: pyTime(start), stop: pyTime(stop) };
      byTenant.set(r.project_id, s);
    }
    s.total_local_gb_usage += info.local_gb * hours;
    s.total_vcpus_usage += info.vcpus * hours;
    s.total_memory_mb_usage += info.memory_mb * hours;
    s.total_hours += hours;
    if (detailed) s.server_usages.push(info);
    all.push(info);
  }
  return { usages: [...byTenant.values()], servers: all, limit };
}

function usageLinks(ctx: Context, req: FastifyRequest, path: string, servers: any[], limit: number) {
  if (!limit || servers.length !== limit) return undefined;
  const q = new URLSearchParams();
  const query = (req.query ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(query).sort()) if (k !== 'marker') q.append(k, String(Array.isArray(query[k]) ? (query[k] as unknown[]).at(-1) : query[k]));
  q.append('marker', servers.at(-1).instance_id);
  const project = (req.params as any)?.project_id;
  return [{ rel: 'next', href: `${ctx.config.publicUrl}/compute/v2.1${project ? `/${project}` : ''}/${path}?${q.toString()}` }];
}

export async function usageRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/os-simple-tenant-usage', async (req) => {
    // ".../os-simple-tenant-usage/" is a show with an empty tenant id, which Nova's router does not match.
    if (req.url.split('?')[0].endsWith('/')) throw notFound('The resource could not be found.');
    ctx.policy.authorize('os_compute_api:os-simple-tenant-usage:list', req.auth!, {});
    const v = mv(req);
    if (v.atLeast('2.75')) checkQueryKeys(req, ['start', 'end', 'detailed', 'limit', 'marker']);
    const { start, stop, detailed } = params(req);
    const r = await usages(ctx, req, start, stop, undefined, detailed);
    const out: Record<string, unknown> = { tenant_usages: r.usages };
    if (v.atLeast('2.40')) {
      const l = usageLinks(ctx, req, 'os-simple-tenant-usage', r.servers, r.limit);
      if (l) out.tenant_usages_links = l;
    }
    return out;
  });

  app.get<{ Params: { id: string } }>('/os-simple-tenant-usage/:id', async (req) => {
    ctx.policy.authorize('os_compute_api:os-simple-tenant-usage:show', req.auth!, { project_id: req.params.id });
    const v = mv(req);
    if (v.atLeast('2.75')) checkQueryKeys(req, ['start', 'end', 'limit', 'marker']);
    const { start, stop } = params(req);
    const r = await usages(ctx, req, start, stop, req.params.id, true);
    const out: Record<string, unknown> = { tenant_usage: r.usages[0] ?? {} };
    if (v.atLeast('2.40')) {
      const l = usageLinks(ctx, req, `os-simple-tenant-usage/${req.params.id}`, r.servers, r.limit);
      if (l) out.tenant_usage_links = l;
    }
    return out;
  });

  await migrationRoutes(app, ctx);
}
