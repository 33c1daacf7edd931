// Neutron's backend on the simulated vCenter, as VIO's DVS plugin: one distributed port group
// per network, carrying the VLAN id of the network's segment (0 for flat and overlay networks,
// which NSX-T would realise as opaque networks instead).
import type { NetworkBacking, NetworkDriver, NetworkSegment } from '../../core/virt.ts';
import type { SimVCenter } from './vcenter.ts';
import type { Portgroup } from './model.ts';

const PREFIX = 'vistack-net-';

export function portGroupName(networkId: string) { return `${PREFIX}${networkId}`; }

export class SimNetworkDriver implements NetworkDriver {
  readonly name = 'simulator';
  private vcenter: () => SimVCenter;

  constructor(vcenter: () => SimVCenter) { this.vcenter = vcenter; }

  async ensureNetwork(segment: NetworkSegment): Promise<NetworkBacking> {
    const vc = this.vcenter();
    const name = portGroupName(segment.networkId);
    const vlanId = segment.networkType === 'vlan' ? (segment.segmentationId ?? 0) : 0;
    let pg = await vc.ensurePortgroup(name, vlanId);
    if (pg.vlanId !== vlanId) pg = await vc.reconfigurePortgroup(name, vlanId);
    return backing(segment.networkId, pg);
  }

  async deleteNetwork(networkId: string): Promise<void> {
    await this.vcenter().destroyPortgroup(portGroupName(networkId));
  }

  async listNetworks(): Promise<NetworkBacking[]> {
    return this.vcenter().allPortgroups()
      .filter((p) => p.name.startsWith(PREFIX))
      .map((p) => backing(p.name.slice(PREFIX.length), p));
  }
}

function backing(networkId: string, pg: Portgroup): NetworkBacking {
  return { networkId, portGroup: pg.name, key: pg.moref, vlanId: pg.vlanId };
}
