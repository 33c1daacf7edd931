// Neutron's GET /v2.0/availability_zones. Neutron derives the zones from its agents (DHCP agents
// for networks, L3 agents for routers); here networking is the distributed switch, which spans
// every cluster, so there is one zone, "nova", for both resources, always available. Network
// availability_zone_hints are checked against the same list (networks.ts).
import type { FastifyInstance } from 'fastify';
import type { Context } from '../core/service.ts';
import type { NetworkPart } from './index.ts';
import { queryOf } from './query.ts';

export const NETWORK_ZONE = 'nova';

export const zoneList = () => ['network', 'router'].map((resource) => ({ name: NETWORK_ZONE, resource, state: 'available' }));

const ATTRS = ['name', 'resource', 'state'];

export const availabilityZones: NetworkPart = {
  migrations: [],
  extensions: [],
  async routes(app: FastifyInstance, ctx: Context) {
    app.get('/availability_zones', async (req) => {
      ctx.policy.authorize('get_availability_zone', req.auth!, { project_id: req.auth!.projectId });
      const q = queryOf(req);
      let zones: Record<string, string>[] = zoneList();
      for (const [key, values] of q) {
        // Paging and sorting keys, fields and unknown attributes filter nothing (zones have no ids).
        if (!ATTRS.includes(key)) continue;
        zones = zones.filter((z) => values.includes(z[key]));
      }
      const fields = (q.get('fields') ?? []).filter((f) => ATTRS.includes(f));
      return { availability_zones: fields.length ? zones.map((z) => Object.fromEntries(fields.map((f) => [f, z[f]]))) : zones };
    });
  },
};
