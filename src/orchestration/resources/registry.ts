// Every resource type this Heat offers, by type name. The engine resolves template resources
// (a type that names a template file or an environment mapping) before it asks here.
import type { PluginRegistry, ResourcePlugin } from '../types.ts';
import { HEAT_PLUGINS } from './heat/index.ts';
import { SERVICE_PLUGINS } from './services/index.ts';

export function createRegistry(plugins: ResourcePlugin[] = [...HEAT_PLUGINS, ...SERVICE_PLUGINS]): PluginRegistry {
  const byType = new Map<string, ResourcePlugin>();
  for (const p of plugins) {
    if (byType.has(p.type)) throw new Error(`resource type ${p.type} registered twice`);
    byType.set(p.type, p);
  }
  const sorted = [...byType.values()].sort((a, b) => (a.type < b.type ? -1 : 1));
  return { get: (type) => byType.get(type), list: () => sorted };
}

export const registry: PluginRegistry = createRegistry();
