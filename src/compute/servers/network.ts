// Nova's side of networking, as nova/network/neutron.py does it for the API and the compute
// manager: the API's `networks` turned into NetworkApi requests, the instance's VIFs turned into
// the compute driver's VifSpecs and into the `addresses` of server views. Nova never touches
// Neutron's tables: every call goes through ctx.services.network. Without a network service the
// servers simply have no NIC (as with `networks: none`).
import type { Context } from '../../core/service.ts';
import type { VifSpec } from '../../core/virt.ts';
import type { InstanceVif, RequestedNetwork, SecurityGroupRef } from '../../network/api.ts';
import { ApiError } from '../../core/errors.ts';
import type { Instance } from './db.ts';

export type Requested = RequestedNetwork[] | 'auto' | 'none';

/**
 * The instance's stored `networks` (the API's value) as NetworkApi takes it: nothing given
 * (below 2.37) is `[]`, which Neutron's side resolves to the project's single usable network.
 */
export function requestedFromApi(networks: unknown): Requested {
  if (networks === 'auto' || networks === 'none') return networks;
  if (!Array.isArray(networks)) return [];
  return networks.map((n: any) => {
    const r: RequestedNetwork = {};
    if (n.port) r.portId = String(n.port);
    else if (n.uuid) r.networkId = String(n.uuid);
    if (n.fixed_ip !== undefined && n.fixed_ip !== null) r.fixedIp = String(n.fixed_ip);
    if (n.tag !== undefined) r.tag = n.tag;
    return r;
  });
}

export function vifSpec(v: InstanceVif): VifSpec {
  return { portId: v.portId, macAddress: v.macAddress, networkId: v.networkId, portGroup: v.portGroup };
}

/** Nova's addresses view: {network label: [{version, addr, OS-EXT-IPS:type, OS-EXT-IPS-MAC:mac_addr}]}. */
export function addressesOf(vifs: InstanceVif[] | undefined): Record<string, Record<string, unknown>[]> {
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const v of vifs ?? []) {
    const list = (out[v.networkLabel] ??= []);
    for (const ip of v.fixedIps) {
      list.push({ version: ip.version, addr: ip.address, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': v.macAddress });
    }
    for (const f of v.floatingIps) {
      list.push({ version: f.address.includes(':') ? 6 : 4, addr: f.address, 'OS-EXT-IPS:type': 'floating', 'OS-EXT-IPS-MAC:mac_addr': v.macAddress });
    }
  }
  return out;
}

/** The plain addresses of the ips API ({version, addr}), as Nova's views/addresses.py basic view. */
export function basicAddresses(vifs: InstanceVif[] | undefined): Record<string, { version: number; addr: string }[]> {
  const out: Record<string, { version: number; addr: string }[]> = {};
  for (const v of vifs ?? []) {
    const list = (out[v.networkLabel] ??= []);
    for (const ip of v.fixedIps) list.push({ version: ip.version, addr: ip.address });
    for (const f of v.floatingIps) list.push({ version: f.address.includes(':') ? 6 : 4, addr: f.address });
  }
  return out;
}

export async function vifsOf(ctx: Context, uuids: string[]): Promise<Map<string, InstanceVif[]>> {
  const api = ctx.services.network;
  if (!api || !uuids.length) return new Map();
  return api.vifsForInstances(uuids);
}

export async function securityGroupsOf(ctx: Context, uuids: string[]): Promise<Map<string, SecurityGroupRef[]>> {
  const api = ctx.services.network;
  if (!api || !uuids.length) return new Map();
  return api.securityGroupsForInstances(uuids);
}

/** A network failure that must not be retried (bad request, exhausted addresses, quota): the build fails. */
export class NetworkAllocationFailed extends Error {}

/**
 * Creates or binds the instance's ports on its host (Nova's _allocate_network). Idempotent: a
 * rerun after a crash returns the same VIFs.
 */
export async function allocateNetworks(ctx: Context, inst: Instance): Promise<InstanceVif[]> {
  const api = ctx.services.network;
  if (!api) return [];
  const requested = requestedFromApi(inst.requestedNetworks);
  if (requested === 'none') return [];
  try {
    return await api.allocateForInstance({
      instanceId: inst.uuid, projectId: inst.projectId, userId: inst.userId, hostname: inst.hostname,
      host: inst.host ?? '', availabilityZone: inst.availabilityZone ?? 'nova', requested,
      securityGroups: inst.securityGroups,
    });
  } catch (e) {
    if (e instanceof ApiError && e.status >= 400 && e.status < 500) throw new NetworkAllocationFailed(e.message);
    throw e;
  }
}

/** Deletes the ports Nova made for the instance and unbinds the user's own. Idempotent. */
export async function deallocateNetworks(ctx: Context, uuid: string): Promise<void> {
  const api = ctx.services.network;
  if (!api) return;
  await api.deallocateForInstance(uuid);
}
