// Shared pieces of the service plugins: short property-schema builders, name-or-id look-ups the
// way Heat's client plugins do them (an id first, then a unique name), and error helpers.
import { ClientError, heatError, validationFailed, type OpenStackClient, type PropertySchema, type PropertyConstraint, type ResourceContext, type ServiceType } from '../../types.ts';

type Extra = Partial<PropertySchema> & { constraint?: string; allowed?: unknown[] };

function schema(type: PropertySchema['type'], description: string, extra: Extra = {}): PropertySchema {
  const { constraint, allowed, ...rest } = extra;
  const constraints: PropertyConstraint[] = [...(rest.constraints ?? [])];
  if (constraint) constraints.push({ custom_constraint: constraint });
  if (allowed) constraints.push({ allowed_values: allowed });
  const s: PropertySchema = { type, description, required: false, update_allowed: false, immutable: false, ...rest };
  if (constraints.length) s.constraints = constraints; else delete s.constraints;
  return s;
}
export const str = (d: string, e?: Extra) => schema('string', d, e);
export const int = (d: string, e?: Extra) => schema('integer', d, e);
export const num = (d: string, e?: Extra) => schema('number', d, e);
export const bool = (d: string, e?: Extra) => schema('boolean', d, e);
export const map = (d: string, e?: Extra) => schema('map', d, e);
export const list = (d: string, e?: Extra) => schema('list', d, e);
/** A list whose items are maps with the given keys. */
export const listOf = (d: string, item: Record<string, PropertySchema>, e?: Extra) =>
  schema('list', d, { ...e, schema: { '*': schema('map', d, { schema: item }) } });
export const listOfStr = (d: string, e?: Extra & { itemConstraint?: string }) => {
  const { itemConstraint, ...rest } = e ?? {};
  return schema('list', d, { ...rest, schema: { '*': str(d, itemConstraint ? { constraint: itemConstraint } : {}) } });
};
export const attr = (description: string, type?: 'string' | 'map' | 'list' | 'integer' | 'number' | 'boolean') => (type ? { description, type } : { description });

export const isNotFound = (e: unknown) => e instanceof ClientError && e.status === 404;

/** Runs a delete call, treating 404 (already gone) as done. */
export async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try { await p; } catch (e) { if (!isNotFound(e)) throw e; }
}

/** The message of a service's error body (Nova's {"badRequest": {...}}, Neutron's NeutronError, Keystone's error...). */
export function errorMessage(e: unknown): string {
  if (!(e instanceof ClientError)) return e instanceof Error ? e.message : String(e);
  const b: any = e.body;
  if (b && typeof b === 'object') {
    if (b.NeutronError?.message) return b.NeutronError.message;
    if (b.error?.message) return b.error.message;
    for (const v of Object.values(b)) if (v && typeof v === 'object' && typeof (v as any).message === 'string') return (v as any).message;
    if (typeof b.message === 'string') return b.message;
  }
  return typeof b === 'string' && b ? b : e.message;
}

export const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** An object that cannot be found by name or id: Heat's EntityNotFound words. */
export class EntityNotFound extends Error {
  readonly entity: string;
  readonly nameOrId: string;
  constructor(entity: string, nameOrId: string, message?: string) {
    super(message ?? `The ${entity} (${nameOrId}) could not be found.`);
    this.entity = entity;
    this.nameOrId = nameOrId;
  }
}

/** Neutron: the one object of a collection with this id or (unique) name. */
async function neutronFind(client: OpenStackClient, collection: string, key: string, entity: string, v: string): Promise<any> {
  const byId = await client.find('network', `/${collection}/${encodeURIComponent(v)}`);
  if (byId) return byId[key];
  const r = await client.request('network', 'GET', `/${collection}?name=${encodeURIComponent(v)}`);
  const found = r.body[collection.replace(/-/g, '_').replace(/^qos\//, '')] as any[];
  if (found.length === 1) return found[0];
  if (found.length > 1) throw new EntityNotFound(entity, v, `Multiple ${entity} matches found for name '${v}', use an ID to be more specific.`);
  throw new EntityNotFound(entity, v, `Unable to find ${entity} with name or id '${v}'`);
}
export const findNetwork = (c: OpenStackClient, v: string) => neutronFind(c, 'networks', 'network', 'network', v);
export const findSubnet = (c: OpenStackClient, v: string) => neutronFind(c, 'subnets', 'subnet', 'subnet', v);
export const findPort = (c: OpenStackClient, v: string) => neutronFind(c, 'ports', 'port', 'port', v);
export const findRouter = (c: OpenStackClient, v: string) => neutronFind(c, 'routers', 'router', 'router', v);
export const findSecurityGroup = (c: OpenStackClient, v: string) => neutronFind(c, 'security-groups', 'security_group', 'security_group', v);
export const findQosPolicy = (c: OpenStackClient, v: string) => neutronFind(c, 'qos/policies', 'policy', 'policy', v);
export const findSubnetPool = (c: OpenStackClient, v: string) => neutronFind(c, 'subnetpools', 'subnetpool', 'subnetpool', v);

/** Nova flavor by id or name (Heat's nova client plugin: 'The Flavor ID (x) could not be found.'). */
export async function findFlavor(c: OpenStackClient, v: string): Promise<any> {
  const byId = await c.find('compute', `/flavors/${encodeURIComponent(v)}`);
  if (byId) return byId.flavor;
  const r = await c.request('compute', 'GET', '/flavors/detail?is_public=None');
  const m = (r.body.flavors as any[]).filter((f) => f.name === v);
  if (m.length >= 1) return m[0];
  throw new EntityNotFound('Flavor', v, `The Flavor ID (${v}) could not be found.`);
}

export async function findKeypair(c: OpenStackClient, v: string): Promise<any> {
  const k = await c.find('compute', `/os-keypairs/${encodeURIComponent(v)}`);
  if (!k) throw new EntityNotFound('Key', v, `The Key (${v}) could not be found.`);
  return k.keypair;
}

export async function findServer(c: OpenStackClient, v: string): Promise<any> {
  const byId = UUID.test(v) ? await c.find('compute', `/servers/${v}`) : null;
  if (byId) return byId.server;
  const r = await c.request('compute', 'GET', `/servers/detail?name=${encodeURIComponent('^' + escapeRegex(v) + '$')}`);
  const m = (r.body.servers as any[]).filter((s) => s.name === v);
  if (m.length === 1) return m[0];
  throw new EntityNotFound('Server', v, `The Server (${v}) could not be found.`);
}

export const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Glance image by id or unique name. */
export async function findImage(c: OpenStackClient, v: string): Promise<any> {
  if (UUID.test(v)) {
    const byId = await c.find('image', `/images/${v}`);
    if (byId) return byId;
  }
  const r = await c.request('image', 'GET', `/images?name=${encodeURIComponent(v)}`);
  const m = r.body.images as any[];
  if (m.length === 1) return m[0];
  if (m.length > 1) throw new EntityNotFound('Image', v, `Multiple physical resources were found with name (${v}).`);
  throw new EntityNotFound('Image', v, `The Image (${v}) could not be found.`);
}

/** Cinder objects by id or name. */
async function cinderFind(c: OpenStackClient, collection: string, key: string, entity: string, v: string): Promise<any> {
  const byId = await c.find('volume', `/${collection}/${encodeURIComponent(v)}`);
  if (byId) return byId[key];
  const r = await c.request('volume', 'GET', collection === 'types' ? '/types' : `/${collection}/detail?name=${encodeURIComponent(v)}`);
  const m = (r.body[collection === 'types' ? 'volume_types' : collection] as any[]).filter((x) => x.name === v);
  if (m.length === 1) return m[0];
  throw new EntityNotFound(entity, v, `The ${entity} (${v}) could not be found.`);
}
export const findVolume = (c: OpenStackClient, v: string) => cinderFind(c, 'volumes', 'volume', 'Volume', v);
export const findSnapshot = (c: OpenStackClient, v: string) => cinderFind(c, 'snapshots', 'snapshot', 'VolumeSnapshot', v);
export const findVolumeType = (c: OpenStackClient, v: string) => cinderFind(c, 'types', 'volume_type', 'VolumeType', v);

/** Keystone objects by id or name. */
async function keystoneFind(c: OpenStackClient, collection: string, key: string, entity: string, v: string): Promise<any> {
  const forbidden = (e: unknown) => e instanceof ClientError && e.status === 403;
  const byId = await c.find('identity', `/${collection}/${encodeURIComponent(v)}`).catch((e) => { if (forbidden(e)) return null; throw e; });
  if (byId) return byId[key];
  let m: any[];
  try {
    m = (await c.request('identity', 'GET', `/${collection}?name=${encodeURIComponent(v)}`)).body[collection];
  } catch (e) {
    // A member may not list projects, but may see the ones it has roles on.
    if (!forbidden(e) || collection !== 'projects') throw e;
    m = ((await c.request('identity', 'GET', '/auth/projects')).body.projects as any[]).filter((p) => p.id === v || p.name === v);
  }
  if (m.length === 1) return m[0];
  if (m.length > 1) throw new EntityNotFound(entity, v, `Multiple ${entity} matches found for name '${v}', use an ID to be more specific.`);
  throw new EntityNotFound(entity, v, `The ${entity} (${v}) could not be found.`);
}
export const findProject = (c: OpenStackClient, v: string) => keystoneFind(c, 'projects', 'project', 'KeystoneProject', v);
export const findUser = (c: OpenStackClient, v: string) => keystoneFind(c, 'users', 'user', 'KeystoneUser', v);
export const findRole = (c: OpenStackClient, v: string) => keystoneFind(c, 'roles', 'role', 'KeystoneRole', v);
export const findDomain = (c: OpenStackClient, v: string) => keystoneFind(c, 'domains', 'domain', 'KeystoneDomain', v);
export const findGroup = (c: OpenStackClient, v: string) => keystoneFind(c, 'groups', 'group', 'KeystoneGroup', v);

/**
 * Resolves a property that names another object; a missing one fails the resource with Heat's
 * words (the engine makes the thrown error the status reason).
 */
export async function resolve(find: (c: OpenStackClient, v: string) => Promise<any>, c: OpenStackClient, v: string): Promise<any> {
  try { return await find(c, v); } catch (e) {
    if (e instanceof EntityNotFound) throw validationFailed(e.message, 'EntityNotFound');
    throw e;
  }
}

/** Fails a resource with the service's words when a call is refused (4xx). */
export async function call(r: ResourceContext, service: ServiceType, method: string, path: string, body?: unknown,
  opts?: { microversion?: string; headers?: Record<string, string> }): Promise<any> {
  try { return (await r.client.request(service, method, path, body, opts)).body; } catch (e) {
    if (e instanceof ClientError && e.status >= 400 && e.status < 500 && e.status !== 404) {
      const type = e.status === 409 ? 'Conflict' : e.status === 403 ? 'Forbidden' : e.status === 413 ? 'OverLimit' : 'BadRequest';
      throw heatError(e.status === 403 ? 403 : 400, type, errorMessage(e));
    }
    throw e;
  }
}

/**
 * A deprecated property given together with the one that replaced it: the template language
 * moves an old name's value only when the new one is absent, so both here is the author's
 * mistake, refused in Heat's words rather than one value silently winning.
 */
export function oldAndNewNames(p: Record<string, any>, pairs: [string, string][], prefix = ''): void {
  for (const [now, old] of pairs) {
    if (p[now] != null && p[old] != null) {
      throw validationFailed(`Cannot define the following properties at the same time: ${prefix}${now}, ${prefix}${old}.`, 'ResourcePropertyConflict');
    }
  }
}

/** Drops undefined and null values from a request body (Heat sends only what is set). */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) out[k] = v;
  return out as Partial<T>;
}

/** Looks an object up by exact name in a list answer: the adoption of findInterrupted. */
export function byName(items: any[], name: string): string | null {
  const m = items.filter((x) => x.name === name);
  return m.length ? m[0].id : null;
}
