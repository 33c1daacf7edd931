// Chooses the virtualization backend: one compute driver (Nova), one network driver (Neutron)
// and one volume driver (Cinder) over the same vCenter(s). The embedded vSphere simulator is the
// default; VISTACK_DRIVER=vsphere drives real vCenters over vim25 SOAP (src/drivers/vsphere).
import type { Config } from '../core/config.ts';
import type { ComputeDriver, NetworkDriver, VolumeDriver } from '../core/virt.ts';
import type { VSphereSession } from './vsphere/session.ts';

export interface Drivers {
  compute: ComputeDriver;
  network: NetworkDriver;
  volume: VolumeDriver;
  /** The vCenter sessions of the vsphere driver (Glance's datastore store). */
  sessions?: VSphereSession[];
}

export interface DriverLog { info(m: string): void; warn(m: string): void }

export async function createDrivers(config: Config, log: DriverLog = { info: console.log, warn: console.warn }, env: NodeJS.ProcessEnv = process.env): Promise<Drivers> {
  switch (config.driver) {
    case 'simulator': {
      const { SimulatorDriver } = await import('./simulator/index.ts');
      const { SimNetworkDriver } = await import('./simulator/network.ts');
      const { SimVolumeDriver } = await import('./simulator/volumes.ts');
      const compute = new SimulatorDriver({ dataDir: config.dataDir, latencyMs: config.simLatencyMs });
      const vcenter = () => compute.vcenter;
      return { compute, network: new SimNetworkDriver(vcenter), volume: new SimVolumeDriver(vcenter) };
    }
    case 'vsphere': {
      const { loadVsphereConfig } = await import('./vsphere/config.ts');
      const { VSphereSession } = await import('./vsphere/session.ts');
      const { VSphereComputeDriver } = await import('./vsphere/vmops.ts');
      const { VSphereNetworkDriver } = await import('./vsphere/network.ts');
      const { VSphereVolumeDriver } = await import('./vsphere/volumeops.ts');
      const vs = loadVsphereConfig(env, config.vsphereConfigFile ? { configFile: config.vsphereConfigFile } : {});
      const sessions = vs.vcenters.map((vc) => new VSphereSession(vc, log));
      // The compute driver's init() logs in and discovers every vCenter; the other two share its sessions.
      return { compute: new VSphereComputeDriver(sessions), network: new VSphereNetworkDriver(sessions), volume: new VSphereVolumeDriver(sessions), sessions };
    }
    default:
      throw new Error(`VISTACK_DRIVER=${config.driver} is not a driver (use "simulator" or "vsphere")`);
  }
}
