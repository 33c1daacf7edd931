// A Neutron port as a VM NIC, as Nova's vmwareapi vif/vm_util: a VirtualVmxnet3 with the port's
// MAC (addressType manual) on the network's distributed port group, its port id as the NIC's
// externalId and in extraConfig "nvp.iface-id.<n>" (what NSX and Neutron's DVS agent read).
// Detach finds the NIC by that port id.
import { VirtDriverError, type VifSpec } from '../../core/virt.ts';
import type { PortgroupInfo } from './inventory.ts';
import type { OptionValue, VirtualDeviceConfigSpec, VirtualEthernetCard, VirtualDevice } from './vim/types.ts';
import { optionValue } from './vm_util.ts';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IFACE_KEY = /^nvp\.iface-id\.(\d+)$/;
const NIC_TYPES = new Set(['VirtualVmxnet3', 'VirtualVmxnet2', 'VirtualVmxnet', 'VirtualE1000', 'VirtualE1000e', 'VirtualPCNet32', 'VirtualSriovEthernetCard']);

export function isNic(d: VirtualDevice): d is VirtualEthernetCard { return NIC_TYPES.has(d._type); }

/** Bad input fails before anything is sent. */
export function validateVif(vif: VifSpec): void {
  if (!vif.portId) throw new VirtDriverError('InvalidArgument', 'A port id is required');
  if (!MAC.test(vif.macAddress ?? '')) throw new VirtDriverError('InvalidArgument', `Invalid MAC address ${vif.macAddress}`);
  if (!vif.portGroup) throw new VirtDriverError('InvalidArgument', 'A port group name is required');
}

/** The "add" of one NIC; `key` is a temporary negative key (vCenter assigns the real one). */
export function vifDeviceSpec(vif: VifSpec, pg: PortgroupInfo, key: number): VirtualDeviceConfigSpec {
  return {
    _type: 'VirtualDeviceConfigSpec', operation: 'add',
    device: {
      _type: 'VirtualVmxnet3', key,
      backing: {
        _type: 'VirtualEthernetCardDistributedVirtualPortBackingInfo',
        port: { switchUuid: pg.switchUuid, portgroupKey: pg.key },
      },
      connectable: { startConnected: true, allowGuestControl: true, connected: true },
      addressType: 'manual', macAddress: vif.macAddress.toLowerCase(), wakeOnLanEnabled: true, externalId: vif.portId,
    } as VirtualEthernetCard,
  };
}

/** The port id of each nvp.iface-id.<n> in use. */
export function ifaceIds(ec: Record<string, string>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [k, v] of Object.entries(ec)) {
    const m = IFACE_KEY.exec(k);
    if (m && v && v !== 'free') out.set(Number(m[1]), v);
  }
  return out;
}

/** The lowest free nvp.iface-id index, and the next ones (for several NICs in one spec). */
export function freeIfaceIndexes(ec: Record<string, string>, count: number): number[] {
  const used = new Set(ifaceIds(ec).keys());
  const out: number[] = [];
  for (let i = 0; out.length < count; i++) if (!used.has(i)) out.push(i);
  return out;
}

export const ifaceOption = (index: number, portId: string): OptionValue => optionValue(`nvp.iface-id.${index}`, portId);

/** The NIC of a port: its externalId, or the MAC of an interface the driver recorded. */
export function findNic(devices: VirtualDevice[], portId: string, mac?: string): VirtualEthernetCard | undefined {
  const nics = devices.filter(isNic);
  return nics.find((n) => n.externalId === portId) ?? (mac ? nics.find((n) => String(n.macAddress ?? '').toLowerCase() === mac.toLowerCase()) : undefined);
}

/**
 * The detach of a port: the NIC removed, its nvp.iface-id cleared (an empty value deletes an
 * extraConfig key on vCenter). Either may be missing already (a retried detach).
 */
export function detachVif(devices: VirtualDevice[], ec: Record<string, string>, portId: string): { deviceChange: VirtualDeviceConfigSpec[]; extraConfig: OptionValue[] } {
  const nic = findNic(devices, portId);
  const indexes = [...ifaceIds(ec)].filter(([, p]) => p === portId).map(([i]) => i);
  return {
    deviceChange: nic ? [{ _type: 'VirtualDeviceConfigSpec', operation: 'remove', device: nic }] : [],
    extraConfig: indexes.map((i) => optionValue(`nvp.iface-id.${i}`, '')),
  };
}
