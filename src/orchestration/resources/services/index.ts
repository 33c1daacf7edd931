// The resource types over Vistack's other services (Nova, Neutron, Cinder, Glance, Keystone).
import type { ResourcePlugin } from '../../types.ts';
import { CINDER_PLUGINS } from './cinder.ts';
import { GLANCE_PLUGINS } from './glance.ts';
import { KEYSTONE_PLUGINS } from './keystone.ts';
import { NEUTRON_PLUGINS } from './neutron.ts';
import { NOVA_PLUGINS } from './nova.ts';

export const SERVICE_PLUGINS: ResourcePlugin[] = [...NOVA_PLUGINS, ...NEUTRON_PLUGINS, ...CINDER_PLUGINS, ...GLANCE_PLUGINS, ...KEYSTONE_PLUGINS];
