// Chooses the virtualization backend: one compute driver (Nova), one network driver (Neutron)
// and one volume driver (Cinder) over the same vCenter. The embedded vSphere simulator is the
// default; the real vCenter driver (vim25 SOAP) arrives with its own issue.
import type { Config } from '../core/config.ts';
import type { ComputeDriver, NetworkDriver, VolumeDriver } from '../core/virt.ts';

export interface Drivers {
  compute: ComputeDriver;
  network: NetworkDriver;
  volume: VolumeDriver;
}

export async function createDrivers(config: Config): Promise<Drivers> {
  switch (config.driver) {
    case 'simulator': {
      const { SimulatorDriver } = await import('./simulator/index.ts');
      const { SimNetworkDriver } = await import('./simulator/network.ts');
      const { SimVolumeDriver } = await import('./simulator/volumes.ts');
      const compute = new SimulatorDriver({ dataDir: config.dataDir, latencyMs: config.simLatencyMs });
      const vcenter = () => compute.vcenter;
      return { compute, network: new SimNetworkDriver(vcenter), volume: new SimVolumeDriver(vcenter) };
    }
    default:
      throw new Error(`VISTACK_DRIVER=${config.driver} is not available in this version (use "simulator")`);
  }
}
