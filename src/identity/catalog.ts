// The service catalog: regions, services and their endpoints, and the catalog view put in tokens.
// The assembled catalog is cached (it is in every token response); local writes drop the cache,
// and it is rebuilt at most every few seconds so changes made by other processes show up too.
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import type { Keystone } from './keystone.ts';

export interface Region { id: string; description: string; parentRegionId: string | null; extra: Record<string, unknown> }
export interface Service { id: string; type: string; enabled: boolean; name: string | null; description: string | null; extra: Record<string, unknown> }
export interface Endpoint { id: string; serviceId: string; interface: string; regionId: string | null; url: string; enabled: boolean; extra: Record<string, unknown> }

export const INTERFACES = ['public', 'internal', 'admin'];

const regionRow = (r: any): Region => ({ id: r.id, description: r.description ?? '', parentRegionId: r.parent_region_id ?? null, extra: fromJson(r.extra, {}) });
const serviceRow = (r: any): Service => {
  const extra = fromJson<Record<string, any>>(r.extra, {});
  const { name = null, description = null, ...rest } = extra;
  return { id: r.id, type: r.type, enabled: bool(r.enabled), name, description, extra: rest };
};
const endpointRow = (r: any): Endpoint => ({
  id: r.id, serviceId: r.service_id, interface: r.interface, regionId: r.region_id ?? null, url: r.url, enabled: bool(r.enabled), extra: fromJson(r.extra, {}),
});

export async function getRegion(q: Queryable, id: string): Promise<Region | null> {
  const r = await q.get('SELECT * FROM identity_regions WHERE id = ?', [id]);
  return r ? regionRow(r) : null;
}
export async function listRegions(q: Queryable, f: { parentRegionId?: string } = {}): Promise<Region[]> {
  const rows = f.parentRegionId !== undefined
    ? await q.all('SELECT * FROM identity_regions WHERE parent_region_id = ? ORDER BY id', [f.parentRegionId])
    : await q.all('SELECT * FROM identity_regions ORDER BY id');
  return rows.map(regionRow);
}
export async function putRegion(tx: Tx, r: Region): Promise<void> {
  await tx.run(`INSERT INTO identity_regions (id, description, parent_region_id, extra) VALUES (?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET description = excluded.description, parent_region_id = excluded.parent_region_id, extra = excluded.extra`,
    [r.id, r.description, r.parentRegionId, toJson(r.extra)]);
}
export function regionView(ks: Keystone, r: Region) {
  return { ...r.extra, id: r.id, description: r.description, parent_region_id: r.parentRegionId, links: { self: `${ks.v3}/regions/${r.id}` } };
}

export async function getService(q: Queryable, id: string): Promise<Service | null> {
  const r = await q.get('SELECT * FROM identity_services WHERE id = ?', [id]);
  return r ? serviceRow(r) : null;
}
export async function listServices(q: Queryable, f: { type?: string; name?: string } = {}): Promise<Service[]> {
  const rows = f.type !== undefined
    ? await q.all('SELECT * FROM identity_services WHERE type = ? ORDER BY id', [f.type])
    : await q.all('SELECT * FROM identity_services ORDER BY id');
  return rows.map(serviceRow).filter((s) => f.name === undefined || s.name === f.name);
}
export async function putService(tx: Tx, s: Service): Promise<void> {
  const extra = { ...s.extra, ...(s.name !== null ? { name: s.name } : {}), ...(s.description !== null ? { description: s.description } : {}) };
  await tx.run(`INSERT INTO identity_services (id, type, enabled, extra) VALUES (?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET type = excluded.type, enabled = excluded.enabled, extra = excluded.extra`,
    [s.id, s.type, s.enabled ? 1 : 0, toJson(extra)]);
}
export function serviceView(ks: Keystone, s: Service) {
  const v: Record<string, unknown> = { ...s.extra, id: s.id, type: s.type, enabled: s.enabled, links: { self: `${ks.v3}/services/${s.id}` } };
  if (s.name !== null) v.name = s.name;
  if (s.description !== null) v.description = s.description;
  return v;
}

export async function getEndpoint(q: Queryable, id: string): Promise<Endpoint | null> {
  const r = await q.get('SELECT * FROM identity_endpoints WHERE id = ?', [id]);
  return r ? endpointRow(r) : null;
}
export async function listEndpoints(q: Queryable, f: { serviceId?: string; interface?: string; regionId?: string } = {}): Promise<Endpoint[]> {
  const where: string[] = [], params: any[] = [];
  if (f.serviceId !== undefined) { where.push('service_id = ?'); params.push(f.serviceId); }
  if (f.interface !== undefined) { where.push('interface = ?'); params.push(f.interface); }
  if (f.regionId !== undefined) { where.push('region_id = ?'); params.push(f.regionId); }
  const rows = await q.all(`SELECT * FROM identity_endpoints${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY service_id, interface, id`, params);
  return rows.map(endpointRow);
}
export async function putEndpoint(tx: Tx, e: Endpoint): Promise<void> {
  await tx.run(`INSERT INTO identity_endpoints (id, service_id, interface, region_id, url, enabled, extra) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, interface = excluded.interface, region_id = excluded.region_id,
      url = excluded.url, enabled = excluded.enabled, extra = excluded.extra`,
    [e.id, e.serviceId, e.interface, e.regionId, e.url, e.enabled ? 1 : 0, toJson(e.extra)]);
}
export function endpointView(ks: Keystone, e: Endpoint) {
  return {
    ...e.extra, id: e.id, service_id: e.serviceId, interface: e.interface, region_id: e.regionId, region: e.regionId,
    url: e.url, enabled: e.enabled, links: { self: `${ks.v3}/endpoints/${e.id}` },
  };
}

export interface CatalogService {
  id: string; type: string; name: string;
  endpoints: Array<{ id: string; interface: string; region_id: string | null; url: string; region: string | null }>;
}

const CATALOG_TTL_MS = 5000;

export class CatalogCache {
  private q: Queryable;
  private cached: { at: number; services: Array<{ s: Service; eps: Endpoint[] }> } | undefined;
  constructor(q: Queryable) { this.q = q; }

  invalidate() { this.cached = undefined; }

  private async load() {
    if (this.cached && Date.now() - this.cached.at < CATALOG_TTL_MS) return this.cached.services;
    const services = (await listServices(this.q)).filter((s) => s.enabled);
    const eps = (await listEndpoints(this.q)).filter((e) => e.enabled);
    const out = services.map((s) => ({ s, eps: eps.filter((e) => e.serviceId === s.id) }));
    this.cached = { at: Date.now(), services: out };
    return out;
  }

  /**
   * The catalog for a token. Endpoint URLs may carry Keystone's substitutions ($(project_id)s,
   * %(tenant_id)s, $(user_id)s ...); endpoints needing a value the token lacks are left out.
   */
  async forToken(userId: string, projectId?: string): Promise<CatalogService[]> {
    const services = await this.load();
    const vals: Record<string, string | undefined> = { tenant_id: projectId, project_id: projectId, user_id: userId };
    const out: CatalogService[] = [];
    for (const { s, eps } of services) {
      const endpoints: CatalogService['endpoints'] = [];
      for (const e of eps) {
        let missing = false;
        const url = e.url.replace(/[$%]\((\w+)\)s/g, (m, k: string) => {
          const v = vals[k];
          if (v === undefined) { missing = true; return m; }
          return v;
        });
        if (!missing) endpoints.push({ id: e.id, interface: e.interface, region_id: e.regionId, url, region: e.regionId });
      }
      out.push({ id: s.id, type: s.type, name: s.name ?? '', endpoints });
    }
    return out;
  }
}
