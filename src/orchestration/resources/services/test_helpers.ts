// Helpers for the service plugin tests: an OpenStackClient over a test cloud's HTTP API (the
// same paths the in-process client answers), a ResourceContext kept in memory, and drivers that
// run a plugin's create / update / delete the way the engine does (handle, then poll check).
import { randomBytes, randomUUID } from 'node:crypto';
import { ClientError, type ClientResponse, type OpenStackClient, type ResourceContext, type ResourcePlugin, type ServiceType, type UpdateChange } from '../../types.ts';
import { after, before } from 'node:test';
import { login, startTestCloud, type Session, type TestCloud } from '../../../testing.ts';
import { createClient } from '../../client.ts';

const ROOTS: Record<ServiceType, string> = {
  compute: '/compute/v2.1', network: '/networking/v2.0', volume: '/volume/v3/{project}', image: '/image/v2',
  identity: '/identity/v3', orchestration: '/orchestration/v1/{project}',
};

/** A client over HTTP carrying a session's token. */
export function httpClient(cloud: TestCloud, s: Session): OpenStackClient {
  const project = s.body.token.project.id;
  const request = async (service: ServiceType, method: string, path: string, body?: unknown,
    opts: { headers?: Record<string, string>; microversion?: string } = {}): Promise<ClientResponse> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.microversion) headers['OpenStack-API-Version'] = `${service} ${opts.microversion}`;
    if (method === 'PATCH' && service === 'image') headers['content-type'] ??= 'application/openstack-images-v2.1-json-patch';
    const r = await s.request(method, ROOTS[service].replace('{project}', project) + path, body, headers);
    const text = await r.text();
    let parsed: any = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    const h: Record<string, string> = {};
    r.headers.forEach((v, k) => { h[k] = v; });
    if (r.status >= 400) throw new ClientError(r.status, `${method} ${path}: ${r.status}`, parsed);
    return { status: r.status, headers: h, body: parsed };
  };
  return {
    request,
    async find(service, path) {
      try { return (await request(service, 'GET', path)).body; } catch (e) {
        if (e instanceof ClientError && e.status === 404) return null;
        throw e;
      }
    },
  };
}

export interface TestResource extends ResourceContext {
  properties: Record<string, any>;
  previousProperties?: Record<string, any>;
  physicalId: string | null;
}

/** A resource row kept in memory; properties get the plugin's defaults like the engine applies. */
export function resourceContext(plugin: ResourcePlugin, properties: Record<string, unknown>, client: OpenStackClient,
  opts: { name?: string; stackName?: string; projectId?: string; userId?: string } = {}): TestResource {
  const withDefaults: Record<string, any> = {};
  for (const [k, s] of Object.entries(plugin.properties)) {
    if (properties[k] !== undefined) withDefaults[k] = properties[k];
    else if (s.default !== undefined) withDefaults[k] = structuredClone(s.default);
    else withDefaults[k] = null;
  }
  const name = opts.name ?? 'res';
  const stackName = opts.stackName ?? 'stk';
  const suffix = randomBytes(6).toString('hex');
  const data: Record<string, string> = {};
  let metadata: unknown = null;
  const r: TestResource = {
    name, type: plugin.type, uuid: randomUUID(),
    stack: { id: randomUUID(), name: stackName, projectId: opts.projectId ?? '', userId: opts.userId ?? '', region: 'RegionOne', publicUrl: 'http://127.0.0.1', parentId: null },
    properties: withDefaults, physicalId: null,
    async setPhysicalId(id) { r.physicalId = id; },
    data,
    async setData(k, v) { if (v === null) delete data[k]; else data[k] = v; },
    physicalName: () => `${stackName}-${name}-${suffix}`,
    get metadata() { return metadata; },
    async setMetadata(v) { metadata = v; },
    client,
    nested: undefined as any,
    async signals() { return []; },
    log: () => {},
    cloud: undefined as any,
  };
  return r;
}

async function poll(check: (() => Promise<boolean>) | undefined, ms = 20, limit = 30_000) {
  if (!check) return;
  const end = Date.now() + limit;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting for completion');
    await new Promise((res) => setTimeout(res, ms));
  }
}

export async function create(plugin: ResourcePlugin, r: TestResource) {
  if (plugin.validate) await plugin.validate(r.properties, { client: r.client });
  await plugin.handleCreate(r);
  await poll(plugin.checkCreateComplete && (() => plugin.checkCreateComplete!(r)));
}

/** Updates in place (the test gives only update_allowed changes). */
export async function update(plugin: ResourcePlugin, r: TestResource, props: Record<string, unknown>) {
  const oldProperties = r.properties;
  const newProperties = { ...oldProperties, ...props };
  const changed = Object.keys(props).filter((k) => JSON.stringify(props[k]) !== JSON.stringify(oldProperties[k]));
  const change: UpdateChange = { changed, oldProperties, newProperties };
  r.previousProperties = oldProperties;
  r.properties = newProperties;
  await plugin.handleUpdate!(r, change);
  await poll(plugin.checkUpdateComplete && (() => plugin.checkUpdateComplete!(r)));
}

export async function remove(plugin: ResourcePlugin, r: TestResource) {
  await plugin.handleDelete(r);
  await poll(plugin.checkDeleteComplete && (() => plugin.checkDeleteComplete!(r)));
}

/** A client whose every call is answered by `answer` (unit tests); records the calls. */
export function fakeClient(answer: (service: ServiceType, method: string, path: string, body?: unknown) => unknown) {
  const calls: { service: ServiceType; method: string; path: string; body?: unknown; microversion?: string }[] = [];
  const request = async (service: ServiceType, method: string, path: string, body?: unknown, opts?: { microversion?: string }) => {
    calls.push({ service, method, path, body, microversion: opts?.microversion });
    const b = answer(service, method, path, body);
    if (b instanceof ClientError) throw b;
    return { status: 200, headers: {}, body: b };
  };
  const client: OpenStackClient = {
    request,
    async find(service, path) {
      try { return (await request(service, 'GET', path)).body; } catch (e) {
        if (e instanceof ClientError && e.status === 404) return null;
        throw e;
      }
    },
  };
  return { client, calls };
}

export const notFound = () => new ClientError(404, 'not found', { itemNotFound: { code: 404, message: 'not found' } });

export interface PluginTestEnv {
  cloud: TestCloud;
  admin: Session;
  demo: Session;
  /** The in-process client acting as demo (what a stack demo owns uses). */
  client: OpenStackClient;
  /** The same as admin. */
  adminClient: OpenStackClient;
  imageId: string;
}

/** Registers before/after hooks: one cloud per test file, demo and admin clients through createClient. */
export function pluginTestEnv(): PluginTestEnv {
  const env = {} as PluginTestEnv;
  before(async () => {
    env.cloud = await startTestCloud();
    env.admin = await login(env.cloud);
    env.demo = await login(env.cloud, 'demo', env.cloud.config.demoPassword, 'demo');
    const as = (s: Session) => createClient(env.cloud.ctx, { userId: s.body.token.user.id, projectId: s.body.token.project.id });
    env.client = as(env.demo);
    env.adminClient = as(env.admin);
    const imgs = await env.admin.json('GET', '/image/v2/images?status=active');
    env.imageId = imgs.body.images[0].id;
  });
  after(async () => { await env.cloud?.close(); });
  return env;
}
