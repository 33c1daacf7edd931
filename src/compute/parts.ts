// The slices of the compute API, in registration order.
import type { ComputePart } from './index.ts';
import { versions } from './versions.ts';
import { flavors } from './flavors.ts';
import { keypairs } from './keypairs.ts';
import { quotas } from './quotas.ts';
import { serverGroups } from './server_groups.ts';
import { hypervisors } from './hypervisors.ts';
import { availabilityZones } from './availability_zones.ts';
import { servers } from './servers/index.ts';
import { images } from './images.ts';
import { networkProxies } from './network_proxies.ts';
import { volumeProxies } from './volume_proxies.ts';

export const PARTS: ComputePart[] = [versions, hypervisors, availabilityZones, flavors, keypairs, quotas, serverGroups, servers, images, networkProxies, volumeProxies];
