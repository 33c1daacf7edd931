// Neutron quotas: per-project limits over the resources that exist (each part registers how to
// count its own), enforced inside the creating transaction under a per-project lock so
// concurrent creates cannot exceed them, and the /quotas API (show, update, delete = reset,
// default, details with used counts).
import type { FastifyInstance } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { badRequest } from '../core/errors.ts';
import type { NetworkPart } from './index.ts';
import { authorize, neutronError, resourceBody } from './common.ts';

interface QuotaResource { default: number; count(q: Queryable, project: string): Promise<number> }

const RESOURCES = new Map<string, QuotaResource>();

/** A part declares a quota resource: its default limit and how to count a project's usage. */
export function registerQuotaResource(name: string, dflt: number, countSql: string) {
  RESOURCES.set(name, { default: dflt, async count(q, project) { return Number((await q.get(countSql, [project]))?.n ?? 0); } });
}

registerQuotaResource('network', 100, 'SELECT COUNT(*) AS n FROM neutron_networks WHERE project_id = ?');
registerQuotaResource('subnet', 100, 'SELECT COUNT(*) AS n FROM neutron_subnets WHERE project_id = ?');
registerQuotaResource('port', 500, 'SELECT COUNT(*) AS n FROM neutron_ports WHERE project_id = ?');

async function limits(q: Queryable, project: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, r] of RESOURCES) out[k] = r.default;
  for (const row of await q.all('SELECT resource, hard_limit FROM neutron_quotas WHERE project_id = ?', [project])) {
    if (RESOURCES.has(row.resource)) out[row.resource] = Number(row.hard_limit);
  }
  return out;
}

export async function enforceQuota(t: Tx, project: string, resource: string, adding: number) {
  const r = RESOURCES.get(resource);
  if (!r) return;
  await t.lock(`network:quota:${project}`);
  const limit = (await limits(t, project))[resource];
  if (limit < 0) return;
  const used = await r.count(t, project);
  if (used + adding > limit) throw neutronError(409, 'OverQuota', `Quota exceeded for resources: ['${resource}'].`);
}

export const quotas: NetworkPart = {
  migrations: [{
    id: 'network-010-quotas',
    sql: `CREATE TABLE neutron_quotas (
      project_id TEXT NOT NULL,
      resource TEXT NOT NULL,
      hard_limit INTEGER NOT NULL,
      PRIMARY KEY (project_id, resource)
    )`,
  }],
  extensions: [
    { alias: 'quotas', name: 'Quota management support', description: 'Expose functions for quotas management per project', updated: '2012-07-29T10:00:00-00:00' },
    { alias: 'quota_details', name: 'Quota details management support', description: 'Expose functions for quotas usage statistics per project', updated: '2017-02-10T10:00:00-00:00' },
  ],
  async routes(app: FastifyInstance, ctx: Context) {
    const own = (req: any, project: string, action: string) => authorize(ctx, req, action, { project_id: project });
    const details = async (project: string) => {
      const l = await limits(ctx.db, project);
      const out: Record<string, unknown> = {};
      for (const [k, r] of RESOURCES) out[k] = { limit: l[k], used: await r.count(ctx.db, project), reserved: 0 };
      return out;
    };
    app.get('/quotas', async (req) => {
      authorize(ctx, req, 'get_quota', { project_id: '' });
      const rows = await ctx.db.all('SELECT DISTINCT project_id FROM neutron_quotas');
      return { quotas: await Promise.all(rows.map(async (r) => ({ ...(await limits(ctx.db, r.project_id)), project_id: r.project_id, tenant_id: r.project_id }))) };
    });
    app.get<{ Params: { project: string } }>('/quotas/:project/default', async (req) => {
      own(req, req.params.project, 'get_quota');
      const out: Record<string, unknown> = {};
      for (const [k, r] of RESOURCES) out[k] = r.default;
      return { quota: out };
    });
    // Neutron's routes take a format suffix; tempest asks for details.json.
    app.get<{ Params: { project: string } }>('/quotas/:project/details.json', async (req) => {
      own(req, req.params.project, 'get_quota');
      return { quota: await details(req.params.project) };
    });
    app.get<{ Params: { project: string } }>('/quotas/:project/details', async (req) => {
      own(req, req.params.project, 'get_quota');
      return { quota: await details(req.params.project) };
    });
    app.get<{ Params: { project: string } }>('/quotas/:project', async (req) => {
      own(req, req.params.project, 'get_quota');
      return { quota: await limits(ctx.db, req.params.project) };
    });
    app.put<{ Params: { project: string } }>('/quotas/:project', async (req) => {
      authorize(ctx, req, 'update_quota', { project_id: req.params.project });
      const body = resourceBody(req.body, 'quota');
      const set: [string, number][] = [];
      for (const [k, v] of Object.entries(body)) {
        if (k === 'force' || k === 'check_limit') continue;
        if (!RESOURCES.has(k)) throw badRequest(`Unrecognized attribute(s) '${k}'`);
        const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < -1) throw badRequest(`Invalid input for ${k}. Reason: '${v}' is not a valid quota value.`);
        set.push([k, n]);
      }
      await ctx.db.tx(async (t) => {
        for (const [k, n] of set) {
          await t.run('INSERT INTO neutron_quotas (project_id, resource, hard_limit) VALUES (?, ?, ?) ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit', [req.params.project, k, n]);
        }
      });
      return { quota: await limits(ctx.db, req.params.project) };
    });
    app.delete<{ Params: { project: string } }>('/quotas/:project', async (req, reply) => {
      authorize(ctx, req, 'delete_quota', { project_id: req.params.project });
      await ctx.db.run('DELETE FROM neutron_quotas WHERE project_id = ?', [req.params.project]);
      reply.code(204);
    });
  },
};
