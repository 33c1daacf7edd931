// Cinder's backend on the simulated vCenter, as Cinder's VMDK driver: a volume is a VMDK under
// "[datastore] volumes/" on the datastore with the most free space among those that match the
// volume type's storage profile. (Being written: the block storage helper owns this file.)
import { VirtDriverError, type VolumeDriver, type VolumeLocation, type VolumePool, type VolumeSource, type VolumeSpec } from '../../core/virt.ts';
import type { SimVCenter } from './vcenter.ts';

export class SimVolumeDriver implements VolumeDriver {
  readonly name = 'simulator';
  private vcenter: () => SimVCenter;

  constructor(vcenter: () => SimVCenter) { this.vcenter = vcenter; }

  async pools(): Promise<VolumePool[]> { throw new VirtDriverError('NotImplemented', 'pools'); }
  async createVolume(_spec: VolumeSpec, _source?: VolumeSource): Promise<VolumeLocation> { throw new VirtDriverError('NotImplemented', 'createVolume'); }
  async deleteVolume(_location: VolumeLocation): Promise<void> { throw new VirtDriverError('NotImplemented', 'deleteVolume'); }
  async extendVolume(_location: VolumeLocation, _newSizeGb: number): Promise<void> { throw new VirtDriverError('NotImplemented', 'extendVolume'); }
  async createSnapshot(_location: VolumeLocation, _snapshotId: string): Promise<VolumeLocation> { throw new VirtDriverError('NotImplemented', 'createSnapshot'); }
  async deleteSnapshot(_location: VolumeLocation): Promise<void> { throw new VirtDriverError('NotImplemented', 'deleteSnapshot'); }
  async openVolume(_location: VolumeLocation): Promise<never> { throw new VirtDriverError('NotImplemented', 'openVolume'); }
}
