// Nova's os-availability-zone: the zones of the compute hosts (aggregate metadata, default
// "nova") with their state, and for admins the detail view with each host's services; the
// scheduler and conductor live in the "internal" zone, shown only in the detail view.
import type { FastifyInstance } from 'fastify';
import type { ComputePart } from './index.ts';
import type { Context } from '../core/service.ts';
import type { Queryable } from '../core/db/index.ts';
import { bool } from '../core/db/index.ts';
import { novaTime } from './common.ts';
import { serviceIsUp, INTERNAL_ZONE, DEFAULT_ZONE } from './hypervisors.ts';

interface ServiceZone { host: string; binary: string; zone: string; disabled: boolean; up: boolean; updatedAt: string | null }

async function servicesWithZones(q: Queryable): Promise<ServiceZone[]> {
  const nodes = await q.all('SELECT host, availability_zone FROM compute_nodes WHERE deleted = 0 ORDER BY id');
  const zoneOf = new Map<string, string>();
  for (const n of nodes) if (!zoneOf.has(n.host)) zoneOf.set(n.host, n.availability_zone || DEFAULT_ZONE);
  const rows = await q.all('SELECT * FROM compute_services WHERE deleted = 0 ORDER BY id');
  return rows.map((s) => ({
    host: s.host, binary: s.binary,
    zone: s.binary === 'nova-compute' ? (zoneOf.get(s.host) ?? DEFAULT_ZONE) : INTERNAL_ZONE,
    disabled: bool(s.disabled), up: serviceIsUp(s), updatedAt: s.updated_at ?? null,
  }));
}

/** Nova's get_availability_zones: zones with an enabled service are available, the rest not; both sorted. */
function zones(services: ServiceZone[]) {
  const available = new Set<string>();
  for (const s of services) if (!s.disabled) for (const z of s.zone.split(',')) available.add(z);
  const notAvailable = new Set<string>();
  for (const s of services) if (s.disabled) for (const z of s.zone.split(',')) if (!available.has(z)) notAvailable.add(z);
  return { available: [...available].sort(), notAvailable: [...notAvailable].sort() };
}

/**
 * True when `name` is an available zone of compute hosts (one enabled nova-compute service in
 * it): what server create accepts as availability_zone (Nova: "The requested availability zone
 * is not available" otherwise).
 */
export async function availabilityZoneExists(q: Queryable, name: string): Promise<boolean> {
  const services = (await servicesWithZones(q)).filter((s) => s.binary === 'nova-compute');
  return zones(services).available.includes(name);
}

async function routes(app: FastifyInstance, ctx: Context) {
  app.get('/os-availability-zone', async (req) => {
    ctx.policy.authorize('os_compute_api:os-availability-zone:list', req.auth!, {});
    const { available, notAvailable } = zones(await servicesWithZones(ctx.db));
    const info = [
      ...available.filter((z) => z !== INTERNAL_ZONE).map((z) => ({ zoneName: z, zoneState: { available: true }, hosts: null })),
      ...notAvailable.filter((z) => z !== INTERNAL_ZONE).map((z) => ({ zoneName: z, zoneState: { available: false }, hosts: null })),
    ];
    return { availabilityZoneInfo: info };
  });

  app.get('/os-availability-zone/detail', async (req) => {
    ctx.policy.authorize('os_compute_api:os-availability-zone:detail', req.auth!, {});
    const services = await servicesWithZones(ctx.db);
    const { available, notAvailable } = zones(services);
    const info: unknown[] = [];
    for (const z of available) {
      const hosts: Record<string, Record<string, unknown>> = {};
      for (const s of services) {
        if (s.disabled || !s.zone.split(',').includes(z)) continue;
        hosts[s.host] ??= {};
        hosts[s.host][s.binary] = { available: s.up, active: !s.disabled, updated_at: novaTime(s.updatedAt) };
      }
      info.push({ zoneName: z, zoneState: { available: true }, hosts });
    }
    for (const z of notAvailable) info.push({ zoneName: z, zoneState: { available: false }, hosts: null });
    return { availabilityZoneInfo: info };
  });
}

export const availabilityZones: ComputePart = { migrations: [], routes };
