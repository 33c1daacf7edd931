// The scheduler: picks a compute node (a vCenter cluster) for an instance, as Nova's filter
// scheduler with placement would: enough free vCPU/RAM/disk under the allocation ratios, the
// requested availability zone and host, the server group policy (affinity, anti-affinity with
// max_server_per_host, and their soft variants as weighers), same_host/different_host hints,
// then the node with the most free RAM. Runs under t.lock('scheduler') and writes the chosen
// node in the same transaction, so concurrent builds never overcommit.
import type { Tx } from '../../core/db/index.ts';
import { listSchedulableNodes, type NodeRow } from '../hypervisors.ts';
import { getServerGroup } from '../server_groups.ts';
import type { Instance } from './db.ts';

/** Nova's reserved_host_memory_mb: kept back on every node. */
const RESERVED_HOST_MEMORY_MB = 512;

export class NoValidHost extends Error {
  constructor(reason = 'There are not enough hosts available.') {
    super(`No valid host was found. ${reason}`);
    this.name = 'NoValidHost';
  }
}

interface Usage { vcpus: number; ram: number; disk: number; hosts: Set<string> }

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);

export function diskGb(i: Pick<Instance, 'rootGb' | 'ephemeralGb' | 'swapMb'>): number {
  return i.rootGb + i.ephemeralGb + Math.ceil(i.swapMb / 1024);
}

/**
 * Chooses a node for `inst` (must be called inside a transaction; takes the scheduler lock).
 * Throws NoValidHost when no node passes the filters.
 */
export async function selectDestination(t: Tx, inst: Instance, o: { exclude?: string[]; resizeOn?: string } = {}): Promise<NodeRow> {
  await t.lock('scheduler');
  const nodes = await listSchedulableNodes(t);
  const usage = new Map<string, Usage>();
  for (const r of await t.all(`SELECT node, COALESCE(SUM(vcpus), 0) AS c, COALESCE(SUM(memory_mb), 0) AS m,
      COALESCE(SUM(root_gb + ephemeral_gb), 0) AS d, COALESCE(SUM(swap_mb), 0) AS s
      FROM instances WHERE deleted = 0 AND node IS NOT NULL AND uuid <> ? GROUP BY node`, [inst.uuid])) {
    usage.set(r.node, { vcpus: Number(r.c), ram: Number(r.m), disk: Number(r.d) + Math.ceil(Number(r.s) / 1024), hosts: new Set() });
  }
  const sm = inst.systemMetadata;
  const hints = inst.schedulerHints ?? {};
  let candidates = nodes.filter((n) => !(o.exclude ?? []).includes(n.hypervisorHostname));
  const need = { vcpus: inst.vcpus, ram: inst.memoryMb, disk: diskGb(inst) };
  const fits = (n: NodeRow) => {
    const u = usage.get(n.hypervisorHostname) ?? { vcpus: 0, ram: 0, disk: 0, hosts: new Set() };
    return u.vcpus + need.vcpus <= n.vcpus * n.cpuAllocationRatio
      && u.ram + need.ram <= (n.memoryMb - RESERVED_HOST_MEMORY_MB) * n.ramAllocationRatio
      && u.disk + need.disk <= n.localGb * n.diskAllocationRatio;
  };
  // A resize stays on its node (a vCenter cluster reconfigures the VM in place): only capacity counts.
  if (o.resizeOn !== undefined) {
    const here = candidates.find((n) => n.hypervisorHostname === o.resizeOn);
    if (!here || !fits(here)) throw new NoValidHost();
    return here;
  }

  // Forced destinations (availability_zone "az:host:node", admin only) skip the filters, as in Nova.
  if (sm.forced_host || sm.forced_node) {
    const forced = nodes.filter((n) => (!sm.forced_host || n.host === sm.forced_host) && (!sm.forced_node || n.hypervisorHostname === sm.forced_node));
    if (!forced.length) throw new NoValidHost();
    return forced[0];
  }
  if (sm.requested_host) candidates = candidates.filter((n) => n.host === sm.requested_host);
  if (sm.requested_node) candidates = candidates.filter((n) => n.hypervisorHostname === sm.requested_node);
  if (inst.requestedAvailabilityZone) candidates = candidates.filter((n) => n.availabilityZone === inst.requestedAvailabilityZone);

  // Resources (placement's inventories: (total - reserved) * allocation_ratio).
  candidates = candidates.filter(fits);

  // same_host / different_host: hosts of the named instances.
  const sameHost = asList(hints.same_host);
  const differentHost = asList(hints.different_host);
  if (sameHost.length || differentHost.length) {
    const hostsOf = async (uuids: string[]) => new Set((await t.all(
      `SELECT host FROM instances WHERE deleted = 0 AND host IS NOT NULL AND uuid IN (${uuids.map(() => '?').join(',')})`, uuids)).map((r) => r.host as string));
    if (sameHost.length) {
      const hs = await hostsOf(sameHost);
      candidates = candidates.filter((n) => hs.has(n.host));
    }
    if (differentHost.length) {
      const hs = await hostsOf(differentHost);
      candidates = candidates.filter((n) => !hs.has(n.host));
    }
  }

  // Server group policies.
  let weight = (_n: NodeRow) => 0;
  const groupId = asList(hints.group)[0];
  if (groupId) {
    const g = await getServerGroup(t, groupId);
    if (g) {
      const others = g.members.filter((m) => m !== inst.uuid);
      const perHost = new Map<string, number>();
      if (others.length) {
        for (const r of await t.all(`SELECT host FROM instances WHERE deleted = 0 AND host IS NOT NULL AND uuid IN (${others.map(() => '?').join(',')})`, others)) {
          perHost.set(r.host, (perHost.get(r.host) ?? 0) + 1);
        }
      }
      if (g.policy === 'affinity') {
        if (perHost.size) candidates = candidates.filter((n) => perHost.has(n.host));
      } else if (g.policy === 'anti-affinity') {
        const max = Number((g.rules as any)?.max_server_per_host ?? 1) || 1;
        candidates = candidates.filter((n) => (perHost.get(n.host) ?? 0) < max);
      } else if (g.policy === 'soft-affinity') {
        weight = (n) => perHost.get(n.host) ?? 0;
      } else if (g.policy === 'soft-anti-affinity') {
        weight = (n) => -(perHost.get(n.host) ?? 0);
      }
    }
  }

  if (!candidates.length) throw new NoValidHost();
  const freeRam = (n: NodeRow) => (n.memoryMb - RESERVED_HOST_MEMORY_MB) * n.ramAllocationRatio - (usage.get(n.hypervisorHostname)?.ram ?? 0);
  candidates.sort((a, b) => weight(b) - weight(a) || freeRam(b) - freeRam(a) || a.id - b.id);
  return candidates[0];
}
