// Cinder's os-hosts (admin): the hosts running Cinder's services, and per host the volumes and
// snapshots it holds, in total and per project. This cloud has one scheduler and one volume
// backend (vistack@vmdk, its pools being the datastores).
import type { FastifyInstance } from 'fastify';
import type { Context } from '../core/service.ts';
import { ApiError } from '../core/errors.ts';

export const VOLUME_HOST = 'vistack@vmdk';
const HOSTS = [['vistack', 'cinder-scheduler'], [VOLUME_HOST, 'cinder-volume']] as const;

export async function hostRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/os-hosts', async (req) => {
    ctx.policy.authorize('volume_extension:hosts', req.auth!, {});
    const now = `${new Date().toISOString().slice(0, 19)}.000000`;
    return {
      hosts: HOSTS.map(([host, service]) => ({
        'service-status': 'available', service, zone: 'nova', 'service-state': 'enabled', host_name: host, 'last-update': now,
      })),
    };
  });

  app.get<{ Params: { host: string } }>('/os-hosts/:host', async (req) => {
    ctx.policy.authorize('volume_extension:hosts', req.auth!, {});
    const host = req.params.host;
    if (host !== VOLUME_HOST) throw new ApiError(404, `Host ${host} could not be found.`);
    const vols = await ctx.db.all('SELECT project_id, COUNT(*) AS n, COALESCE(SUM(size), 0) AS g FROM cinder_volumes GROUP BY project_id ORDER BY project_id');
    const snaps = await ctx.db.all('SELECT project_id, COUNT(*) AS n, COALESCE(SUM(size), 0) AS g FROM cinder_snapshots GROUP BY project_id ORDER BY project_id');
    const per = new Map<string, { vn: number; vg: number; sn: number; sg: number }>();
    const of = (p: string) => { if (!per.has(p)) per.set(p, { vn: 0, vg: 0, sn: 0, sg: 0 }); return per.get(p)!; };
    for (const r of vols) Object.assign(of(r.project_id), { vn: Number(r.n), vg: Number(r.g) });
    for (const r of snaps) Object.assign(of(r.project_id), { sn: Number(r.n), sg: Number(r.g) });
    const total = { vn: 0, vg: 0, sn: 0, sg: 0 };
    for (const x of per.values()) { total.vn += x.vn; total.vg += x.vg; total.sn += x.sn; total.sg += x.sg; }
    const resource = (project: string, x: typeof total) => ({
      resource: {
        volume_count: String(x.vn), total_volume_gb: String(x.vg), total_snapshot_gb: String(x.sg), project, host, snapshot_count: String(x.sn),
      },
    });
    return { host: [resource('(total)', total), ...[...per.entries()].map(([p, x]) => resource(p, x))] };
  });
}

/** GET /capabilities/{host}: the backend's capabilities as its driver reports them (admin). */
export async function capabilityRoutes(app: FastifyInstance, ctx: Context) {
  app.get<{ Params: { host: string } }>('/capabilities/:host', async (req) => {
    ctx.policy.authorize('volume_extension:capabilities', req.auth!, {});
    const [backend, pool] = req.params.host.split('#');
    const pools = await ctx.volumeDriver.pools();
    if (backend !== VOLUME_HOST || (pool !== undefined && !pools.some((p) => p.name === pool))) {
      throw new ApiError(404, `Host ${req.params.host} could not be found.`);
    }
    const bool = (title: string, description: string) => ({ title, description, type: 'boolean' });
    return {
      namespace: `OS::Storage::Capabilities::${VOLUME_HOST}`, vendor_name: 'VMware', volume_backend_name: 'vmdk',
      pool_name: pool ?? null, driver_version: '1.0', storage_protocol: 'vmdk', display_name: null, description: null,
      visibility: null, replication_targets: [],
      properties: {
        thin_provisioning: bool('Thin Provisioning', 'Sets thin provisioning (vmware:vmdk_type thin).'),
        thick_provisioning: bool('Thick Provisioning', 'Sets thick provisioning (vmware:vmdk_type thick or eagerZeroedThick).'),
      },
    };
  });
}
