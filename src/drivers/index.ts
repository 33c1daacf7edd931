// Chooses the virtualization backend. The embedded vSphere simulator is the default; the real
// vCenter driver (vim25 SOAP) arrives with its own issue.
import type { Config } from '../core/config.ts';
import type { ComputeDriver } from '../core/virt.ts';

export async function createDriver(config: Config): Promise<ComputeDriver> {
  switch (config.driver) {
    case 'simulator': {
      const { SimulatorDriver } = await import('./simulator/index.ts');
      return new SimulatorDriver({ dataDir: config.dataDir, latencyMs: config.simLatencyMs });
    }
    default:
      throw new Error(`VISTACK_DRIVER=${config.driver} is not available in this version (use "simulator")`);
  }
}
