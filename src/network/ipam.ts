// IP address management: which addresses a port gets on which subnets. Allocation runs inside
// the port's transaction under a per-subnet lock; the ipallocations primary key (subnet,
// address) is the last word, so two ports can never hold one address.
import type { Tx } from '../core/db/index.ts';
import { badRequest } from '../core/errors.ts';
import { neutronError } from './common.ts';
import { cidrContains, eui64, formatIp, lastIp, parseCidr, parseIp } from './ip.ts';
import { isAutoAddress, poolRanges, type SubnetRow } from './subnets.ts';

export interface FixedIpRequest { subnet_id?: string; ip_address?: string }
export interface FixedIp { subnet_id: string; ip_address: string }

const RANDOM_TRIES = 16;

/** Validates a port's fixed_ips request: a list of {subnet_id, ip_address} objects. */
export function parseFixedIps(raw: unknown): FixedIpRequest[] {
  if (!Array.isArray(raw)) throw badRequest(`Invalid input for fixed_ips. Reason: '${JSON.stringify(raw)}' is not a list.`);
  return raw.map((f: any) => {
    if (!f || typeof f !== 'object' || Object.keys(f).some((k) => k !== 'subnet_id' && k !== 'ip_address')) {
      throw badRequest(`Invalid input for fixed_ips. Reason: '${JSON.stringify(f)}' is not a valid fixed IP request.`);
    }
    if (f.ip_address !== undefined && (typeof f.ip_address !== 'string' || !parseIp(f.ip_address))) {
      throw badRequest(`Invalid input for fixed_ips. Reason: '${f.ip_address}' is not a valid IP address.`);
    }
    if (f.subnet_id !== undefined && typeof f.subnet_id !== 'string') throw badRequest(`Invalid input for fixed_ips. Reason: '${f.subnet_id}' is not a valid subnet id.`);
    if (f.subnet_id === undefined && f.ip_address === undefined) throw badRequest('Invalid input for fixed_ips. Reason: a fixed IP needs a subnet_id or an ip_address.');
    return { subnet_id: f.subnet_id, ip_address: f.ip_address };
  });
}

async function taken(t: Tx, subnetId: string, address: string) {
  return !!(await t.get('SELECT 1 FROM neutron_ipallocations WHERE subnet_id = ? AND ip_address = ?', [subnetId, address]));
}

/**
 * One free address from the subnet's pools, none of `exclude` (already chosen in this request):
 * a few random picks, then a scan; 409 when full.
 */
async function fromPools(t: Tx, s: SubnetRow, exclude: FixedIp[] = []): Promise<string> {
  const chosen = new Set(exclude.filter((f) => f.subnet_id === s.id).map((f) => f.ip_address));
  const version = Number(s.ip_version) as 4 | 6;
  const pools = poolRanges(s);
  const total = pools.reduce((n, p) => n + (p.end - p.start + 1n), 0n);
  if (total > 0n) {
    for (let i = 0; i < RANDOM_TRIES; i++) {
      let k = BigInt(Math.floor(Math.random() * Number(total < 2n ** 52n ? total : 2n ** 52n)));
      for (const p of pools) {
        const n = p.end - p.start + 1n;
        if (k < n) {
          const a = formatIp(version, p.start + k);
          if (!chosen.has(a) && !(await taken(t, s.id, a))) return a;
          break;
        }
        k -= n;
      }
    }
    // Nearly full: walk the pools past the addresses in use.
    const used = new Set((await t.all('SELECT ip_address FROM neutron_ipallocations WHERE subnet_id = ?', [s.id])).map((r) => r.ip_address as string));
    for (const p of pools) {
      for (let v = p.start; v <= p.end && v - p.start < 1_000_000n; v++) {
        const a = formatIp(version, v);
        if (!used.has(a) && !chosen.has(a)) return a;
      }
    }
  }
  throw neutronError(409, 'IpAddressGenerationFailure', `No more IP addresses available on network ${s.network_id}.`);
}

/**
 * The fixed IPs of a new port (or of an update that replaces them): explicit addresses are
 * checked (in a subnet of the network, free), subnet-only entries get a pool address, and with
 * no request the port gets one IPv4 address, one stateful IPv6 address and its SLAAC addresses.
 */
export async function allocate(t: Tx, networkId: string, mac: string, requested: FixedIpRequest[] | undefined, portId: string, keep: FixedIp[] = []): Promise<FixedIp[]> {
  const subnets = (await t.all('SELECT * FROM neutron_subnets WHERE network_id = ? ORDER BY created_at, id', [networkId])) as SubnetRow[];
  for (const s of subnets) await t.lock(`ipam:${s.id}`);
  const out: FixedIp[] = [];
  const add = async (s: SubnetRow, address: string) => {
    if (out.some((f) => f.subnet_id === s.id && f.ip_address === address)) throw badRequest(`Duplicate IP address '${address}'`);
    const mine = keep.some((k) => k.subnet_id === s.id && k.ip_address === address);
    if (!mine && (await taken(t, s.id, address))) {
      throw neutronError(409, 'IpAddressAlreadyAllocated', `IP address ${address} already allocated in subnet ${s.id}`);
    }
    out.push({ subnet_id: s.id, ip_address: address });
  };
  if (requested === undefined) {
    const v4 = subnets.find((s) => Number(s.ip_version) === 4);
    if (v4) await add(v4, await fromPools(t, v4));
    const v6 = subnets.find((s) => Number(s.ip_version) === 6 && !isAutoAddress(s));
    if (v6) await add(v6, await fromPools(t, v6));
    for (const s of subnets.filter(isAutoAddress)) await add(s, formatIp(6, eui64(parseCidr(s.cidr)!, mac)));
  } else {
    // Explicit addresses first, as Neutron does, so that a pool pick cannot take one of them.
    const pooled: SubnetRow[] = [];
    for (const f of requested) {
      let s: SubnetRow | undefined;
      if (f.subnet_id) {
        s = subnets.find((x) => x.id === f.subnet_id);
        if (!s) {
          const elsewhere = await t.get('SELECT 1 FROM neutron_subnets WHERE id = ?', [f.subnet_id]);
          if (!elsewhere) throw neutronError(404, 'SubnetNotFound', `Subnet ${f.subnet_id} could not be found.`);
          throw badRequest(`Invalid input for operation: Failed to create port on network ${networkId}, because fixed_ips included invalid subnet ${f.subnet_id}.`);
        }
      }
      if (f.ip_address) {
        const p = parseIp(f.ip_address)!;
        s ??= subnets.find((x) => Number(x.ip_version) === p.version && cidrContains(parseCidr(x.cidr)!, p.value));
        if (!s) throw badRequest(`Invalid input for operation: IP address ${f.ip_address} is not a valid IP for any of the subnets on the specified network.`);
        const c = parseCidr(s.cidr)!;
        if (p.version !== c.version || !cidrContains(c, p.value)) throw badRequest(`Invalid input for operation: IP address ${f.ip_address} is not a valid IP for the specified subnet.`);
        if (c.version === 4 && c.prefix < 31 && (p.value === c.network || p.value === lastIp(c))) {
          throw badRequest(`Invalid input for operation: IP address ${f.ip_address} is not a valid IP for the specified subnet.`);
        }
        if (isAutoAddress(s)) throw badRequest(`Invalid input for operation: IPv6 address ${f.ip_address} can not be directly assigned to a port on subnet ${s.id} since the subnet is configured for automatic addresses.`);
        await add(s, formatIp(p.version, p.value));
      } else if (isAutoAddress(s!)) {
        await add(s!, formatIp(6, eui64(parseCidr(s!.cidr)!, mac)));
      } else {
        pooled.push(s!);
      }
    }
    for (const s of pooled) await add(s, await fromPools(t, s, out));
  }
  void portId;
  return out;
}

export async function storeAllocations(t: Tx, portId: string, networkId: string, ips: FixedIp[]) {
  await t.run('DELETE FROM neutron_ipallocations WHERE port_id = ?', [portId]);
  for (const f of ips) {
    await t.run('INSERT INTO neutron_ipallocations (subnet_id, ip_address, port_id, network_id) VALUES (?, ?, ?, ?)', [f.subnet_id, f.ip_address, portId, networkId]);
  }
}
