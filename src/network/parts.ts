// The slices of the networking API, in registration order.
import type { NetworkPart } from './index.ts';
import { quotas } from './quotas.ts';
import { networks } from './networks.ts';
import { subnets } from './subnets.ts';
import { ports } from './ports.ts';
import { tags } from './tags.ts';
import { novaNetwork } from './nova.ts';
import { securityGroups } from './security_groups.ts';
import { routers } from './routers.ts';
import { subnetpools } from './subnetpools.ts';
import { rbac } from './rbac.ts';
import { availabilityZones } from './availability_zones.ts';

export const PARTS: NetworkPart[] = [quotas, networks, subnets, ports, tags, securityGroups, routers, novaNetwork, subnetpools, rbac, availabilityZones];
