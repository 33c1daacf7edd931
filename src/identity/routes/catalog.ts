// /v3/regions, /v3/services, /v3/endpoints. Every write drops the cached catalog.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import type { Tx } from '../../core/db/index.ts';
import { hexId } from '../../core/ids.ts';
import { type Keystone, notFound, conflict } from '../keystone.ts';
import { member, description, url, type Schema } from '../validate.ts';
import {
  getRegion, listRegions, putRegion, regionView, getService, listServices, putService, serviceView,
  getEndpoint, listEndpoints, putEndpoint, endpointView, INTERFACES, type Region,
} from '../catalog.ts';
import { enabledFilter, query, collection } from './common.ts';

const regionId: Schema = { type: 'string', minLength: 1, maxLength: 255 };
const REGION_PROPS: Record<string, Schema> = { id: regionId, description: { type: 'string', maxLength: 255 }, parent_region_id: { type: ['string', 'null'], minLength: 1, maxLength: 255 } };
const SERVICE_PROPS: Record<string, Schema> = {
  type: { type: 'string', minLength: 1, maxLength: 255 }, name: { type: 'string', maxLength: 255 }, description, enabled: { type: 'boolean' },
};
const ENDPOINT_PROPS: Record<string, Schema> = {
  service_id: { type: 'string', minLength: 1, maxLength: 64 }, interface: { type: 'string', enum: INTERFACES }, url,
  region_id: { type: ['string', 'null'], minLength: 1, maxLength: 255 }, region: { type: ['string', 'null'], minLength: 1, maxLength: 255 },
  enabled: { type: 'boolean' },
};
const extraOf = (o: Record<string, unknown>, props: Record<string, Schema>) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !(k in props) && k !== 'id' && k !== 'links'));

export async function catalogRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };
  const write = async <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => {
    try {
      return await ks.db.tx(fn);
    } finally {
      ks.catalog.invalidate();
    }
  };
  const idParam = (req: FastifyRequest) => (req.params as { id: string }).id;

  // Regions
  async function checkParent(tx: Tx, id: string, parent: string | null | undefined) {
    if (!parent) return;
    if (parent === id) throw new ApiError(400, `Circular reference or a repeated entry found in region tree - ${id}.`);
    let cur: Region | null = await getRegion(tx, parent);
    if (!cur) throw notFound('region', parent);
    for (let i = 0; cur && cur.parentRegionId && i < 1000; i++) {
      if (cur.parentRegionId === id) throw new ApiError(400, `Circular reference or a repeated entry found in region tree - ${id}.`);
      cur = await getRegion(tx, cur.parentRegionId);
    }
  }
  const createRegion = async (id: string, f: Record<string, any>) => write(async (tx) => {
    if (await getRegion(tx, id)) throw conflict('region', `Duplicate ID, ${id}`);
    await checkParent(tx, id, f.parent_region_id);
    const r: Region = { id, description: f.description ?? '', parentRegionId: f.parent_region_id ?? null, extra: extraOf(f, REGION_PROPS) };
    await putRegion(tx, r);
    return r;
  });

  app.get('/regions', authed, async (req) => {
    ks.enforce(req, 'identity:list_regions');
    const q = query(req);
    return collection(ks, req, 'regions', (await listRegions(ks.db, { parentRegionId: q.parent_region_id })).map((r) => regionView(ks, r)));
  });
  app.post('/regions', authed, async (req, reply) => {
    ks.enforce(req, 'identity:create_region');
    const f = member(req.body, 'region', { properties: REGION_PROPS });
    const r = await createRegion(f.id ?? hexId(), f);
    reply.code(201);
    return { region: regionView(ks, r) };
  });
  app.put('/regions/:id', authed, async (req, reply) => {
    ks.enforce(req, 'identity:create_region');
    const f = member(req.body, 'region', { properties: REGION_PROPS });
    const id = idParam(req);
    if (f.id !== undefined && f.id !== id) throw new ApiError(400, `Conflicting region IDs specified: "${id}" != "${f.id}"`);
    const r = await createRegion(id, f);
    reply.code(201);
    return { region: regionView(ks, r) };
  });
  app.get('/regions/:id', authed, async (req) => {
    ks.enforce(req, 'identity:get_region');
    const r = await getRegion(ks.db, idParam(req));
    if (!r) throw notFound('region', idParam(req));
    return { region: regionView(ks, r) };
  });
  app.patch('/regions/:id', authed, async (req) => {
    ks.enforce(req, 'identity:update_region');
    const f = member(req.body, 'region', { minProperties: 1, properties: REGION_PROPS });
    const id = idParam(req);
    if (f.id !== undefined && f.id !== id) throw new ApiError(400, 'Cannot change region ID');
    const r = await write(async (tx) => {
      const cur = await getRegion(tx, id);
      if (!cur) throw notFound('region', id);
      if ('parent_region_id' in f) await checkParent(tx, id, f.parent_region_id);
      const next: Region = {
        ...cur, description: f.description ?? cur.description,
        parentRegionId: 'parent_region_id' in f ? f.parent_region_id : cur.parentRegionId,
        extra: { ...cur.extra, ...extraOf(f, REGION_PROPS) },
      };
      await putRegion(tx, next);
      return next;
    });
    return { region: regionView(ks, r) };
  });
  app.delete('/regions/:id', authed, async (req, reply) => {
    ks.enforce(req, 'identity:delete_region');
    const id = idParam(req);
    await write(async (tx) => {
      if (!(await getRegion(tx, id))) throw notFound('region', id);
      // The region goes with its child regions, unless endpoints still live in any of them.
      const tree = [id];
      for (let i = 0; i < tree.length; i++) {
        for (const c of await listRegions(tx, { parentRegionId: tree[i] })) tree.push(c.id);
      }
      const used = await tx.get(`SELECT id FROM identity_endpoints WHERE region_id IN (${tree.map(() => '?').join(',')})`, tree);
      if (used) throw new ApiError(403, `Unable to delete region ${id} because it or its child regions have associated endpoints.`);
      for (const r of tree.reverse()) await tx.run('DELETE FROM identity_regions WHERE id = ?', [r]);
    });
    reply.code(204).send();
  });

  // Services
  app.get('/services', authed, async (req) => {
    ks.enforce(req, 'identity:list_services');
    const q = query(req);
    return collection(ks, req, 'services', (await listServices(ks.db, { type: q.type, name: q.name })).map((s) => serviceView(ks, s)));
  });
  app.post('/services', authed, async (req, reply) => {
    ks.enforce(req, 'identity:create_service');
    const f = member(req.body, 'service', { required: ['type'], properties: SERVICE_PROPS });
    const s = { id: hexId(), type: f.type, enabled: f.enabled ?? true, name: f.name ?? null, description: f.description ?? null, extra: extraOf(f, SERVICE_PROPS) };
    await write((tx) => putService(tx, s));
    reply.code(201);
    return { service: serviceView(ks, s) };
  });
  app.get('/services/:id', authed, async (req) => {
    ks.enforce(req, 'identity:get_service');
    const s = await getService(ks.db, idParam(req));
    if (!s) throw notFound('service', idParam(req));
    return { service: serviceView(ks, s) };
  });
  app.patch('/services/:id', authed, async (req) => {
    ks.enforce(req, 'identity:update_service');
    const f = member(req.body, 'service', { minProperties: 1, properties: SERVICE_PROPS });
    const s = await write(async (tx) => {
      const cur = await getService(tx, idParam(req));
      if (!cur) throw notFound('service', idParam(req));
      const next = {
        ...cur, type: f.type ?? cur.type, enabled: f.enabled ?? cur.enabled,
        name: 'name' in f ? f.name : cur.name, description: 'description' in f ? f.description : cur.description,
        extra: { ...cur.extra, ...extraOf(f, SERVICE_PROPS) },
      };
      await putService(tx, next);
      return next;
    });
    return { service: serviceView(ks, s) };
  });
  app.delete('/services/:id', authed, async (req, reply) => {
    ks.enforce(req, 'identity:delete_service');
    await write(async (tx) => {
      const { changes } = await tx.run('DELETE FROM identity_services WHERE id = ?', [idParam(req)]);
      if (!changes) throw notFound('service', idParam(req));
    });
    reply.code(204).send();
  });

  // Endpoints
  const ensureRegion = async (tx: Tx, id: string | null | undefined) => {
    // As Keystone: an endpoint naming an unknown region creates it.
    if (id && !(await getRegion(tx, id))) await putRegion(tx, { id, description: '', parentRegionId: null, extra: {} });
  };
  const regionOf = (f: Record<string, any>) => {
    if (f.region_id !== undefined && f.region !== undefined && f.region_id !== f.region) {
      throw new ApiError(400, 'region_id and region must be the same when both are given.');
    }
    return f.region_id !== undefined ? f.region_id : f.region;
  };

  app.get('/endpoints', authed, async (req) => {
    ks.enforce(req, 'identity:list_endpoints');
    const q = query(req);
    if (q.interface !== undefined && !INTERFACES.includes(q.interface)) {
      throw new ApiError(400, `Invalid input for field 'interface': '${q.interface}' is not one of ${JSON.stringify(INTERFACES)}`);
    }
    const eps = await listEndpoints(ks.db, { serviceId: q.service_id, interface: q.interface, regionId: q.region_id });
    const enabled = enabledFilter(q.enabled);
    return collection(ks, req, 'endpoints', eps.filter((e) => enabled === undefined || e.enabled === enabled).map((e) => endpointView(ks, e)));
  });
  app.post('/endpoints', authed, async (req, reply) => {
    ks.enforce(req, 'identity:create_endpoint');
    const f = member(req.body, 'endpoint', { required: ['service_id', 'interface', 'url'], properties: ENDPOINT_PROPS });
    const regionIdValue = regionOf(f);
    const e = await write(async (tx) => {
      if (!(await getService(tx, f.service_id))) throw notFound('service', f.service_id);
      await ensureRegion(tx, regionIdValue);
      const ep = {
        id: hexId(), serviceId: f.service_id, interface: f.interface, regionId: regionIdValue ?? null, url: f.url,
        enabled: f.enabled ?? true, extra: extraOf(f, ENDPOINT_PROPS),
      };
      await putEndpoint(tx, ep);
      return ep;
    });
    reply.code(201);
    return { endpoint: endpointView(ks, e) };
  });
  app.get('/endpoints/:id', authed, async (req) => {
    ks.enforce(req, 'identity:get_endpoint');
    const e = await getEndpoint(ks.db, idParam(req));
    if (!e) throw notFound('endpoint', idParam(req));
    return { endpoint: endpointView(ks, e) };
  });
  app.patch('/endpoints/:id', authed, async (req) => {
    ks.enforce(req, 'identity:update_endpoint');
    const f = member(req.body, 'endpoint', { minProperties: 1, properties: ENDPOINT_PROPS });
    const regionIdValue = regionOf(f);
    const e = await write(async (tx) => {
      const cur = await getEndpoint(tx, idParam(req));
      if (!cur) throw notFound('endpoint', idParam(req));
      if (f.service_id !== undefined && !(await getService(tx, f.service_id))) throw notFound('service', f.service_id);
      if (regionIdValue !== undefined) await ensureRegion(tx, regionIdValue);
      const next = {
        ...cur, serviceId: f.service_id ?? cur.serviceId, interface: f.interface ?? cur.interface, url: f.url ?? cur.url,
        regionId: regionIdValue !== undefined ? regionIdValue : cur.regionId, enabled: f.enabled ?? cur.enabled,
        extra: { ...cur.extra, ...extraOf(f, ENDPOINT_PROPS) },
      };
      await putEndpoint(tx, next);
      return next;
    });
    return { endpoint: endpointView(ks, e) };
  });
  app.delete('/endpoints/:id', authed, async (req, reply) => {
    ks.enforce(req, 'identity:delete_endpoint');
    await write(async (tx) => {
      const { changes } = await tx.run('DELETE FROM identity_endpoints WHERE id = ?', [idParam(req)]);
      if (!changes) throw notFound('endpoint', idParam(req));
    });
    reply.code(204).send();
  });
}
