// Keystone resources: OS::Keystone::Project, ::User, ::Role and ::Group. Names are unique in a
// domain, so a create records the name it is about to use: a retry after a crash adopts the
// object of that name instead of failing on the conflict (a foreign one is never adopted).
import { type PropertySchema, type ResourceContext, type ResourcePlugin, type UpdateChange } from '../../types.ts';
import {
  attr, bool, call, compact, findDomain, findGroup, findProject, findRole, findUser, ignoreNotFound, listOf, listOfStr, resolve, str,
} from './common.ts';

interface Kind { collection: string; key: string }

async function shown(r: ResourceContext, k: Kind) {
  if (!r.physicalId) return null;
  return (await r.client.find('identity', `/${k.collection}/${r.physicalId}`))?.[k.key] ?? null;
}

const domainId = async (r: ResourceContext, d: string | null | undefined) => (d ? (await resolve(findDomain, r.client, d)).id : undefined);

/** Creates once: adopts the object an interrupted attempt of this resource made (by the recorded name). */
async function createOnce(r: ResourceContext, k: Kind, body: Record<string, any>): Promise<string> {
  const name = body.name as string;
  if (r.data.creating === name) {
    const q = `/${k.collection}?name=${encodeURIComponent(name)}${body.domain_id ? `&domain_id=${body.domain_id}` : ''}`;
    const found = ((await call(r, 'identity', 'GET', q))[k.collection] as any[])[0];
    if (found) return found.id;
  }
  await r.setData('creating', name);
  try {
    return (await call(r, 'identity', 'POST', `/${k.collection}`, { [k.key]: compact(body) }))[k.key].id;
  } catch (e) {
    await r.setData('creating', null);
    throw e;
  }
}

const roleAssignments = listOf('Roles to grant, each on a project or a domain; on update, grants dropped from the list are revoked and new ones granted.', {
  role: str('Name or ID of the role.', { required: true, constraint: 'keystone.role' }),
  project: str('Name or ID of the project to grant the role on.', { constraint: 'keystone.project' }),
  domain: str('Name or ID of the domain to grant the role on (used when no project is given).', { constraint: 'keystone.domain' }),
}, { update_allowed: true });

/** Grants (or revokes) roles to a user or group on projects or domains. */
async function assignRoles(r: ResourceContext, actor: 'users' | 'groups', id: string, roles: any[], revoke = false) {
  for (const a of roles ?? []) {
    const role = revoke ? await findRole(r.client, a.role).catch(() => null) : await resolve(findRole, r.client, a.role);
    if (!role) continue;
    let target: string;
    if (a.project) {
      const p = revoke ? await findProject(r.client, a.project).catch(() => null) : await resolve(findProject, r.client, a.project);
      if (!p) continue;
      target = `/projects/${p.id}`;
    } else if (a.domain) {
      const d = revoke ? await findDomain(r.client, a.domain).catch(() => null) : await resolve(findDomain, r.client, a.domain);
      if (!d) continue;
      target = `/domains/${d.id}`;
    } else continue;
    const path = `${target}/${actor}/${id}/roles/${role.id}`;
    if (revoke) await ignoreNotFound(r.client.request('identity', 'DELETE', path));
    else await call(r, 'identity', 'PUT', path);
  }
}

const roleKey = (a: any) => JSON.stringify([a.role, a.project ?? null, a.domain ?? null]);
async function updateRoles(r: ResourceContext, actor: 'users' | 'groups', c: UpdateChange) {
  const before: any[] = c.oldProperties.roles ?? [], after: any[] = c.newProperties.roles ?? [];
  const bk = before.map(roleKey), ak = after.map(roleKey);
  await assignRoles(r, actor, r.physicalId!, before.filter((a) => !ak.includes(roleKey(a))), true);
  await assignRoles(r, actor, r.physicalId!, after.filter((a) => !bk.includes(roleKey(a))));
}

function keystonePlugin(def: {
  type: string; description: string; kind: Kind; properties: Record<string, PropertySchema>;
  attributes: Record<string, { description: string; type?: any }>;
  body(r: ResourceContext, p: Record<string, any>): Promise<Record<string, unknown>>;
  updateBody(r: ResourceContext, c: UpdateChange): Promise<Record<string, unknown>>;
  afterCreate?(r: ResourceContext, id: string): Promise<void>;
  afterUpdate?(r: ResourceContext, c: UpdateChange): Promise<void>;
  attr?(o: any, name: string): unknown;
}): ResourcePlugin {
  const k = def.kind;
  return {
    type: def.type, description: def.description, properties: def.properties, attributes: def.attributes,
    async handleCreate(r) {
      const body = { name: r.properties.name ?? r.physicalName(), ...(await def.body(r, r.properties)) };
      const id = await createOnce(r, k, body);
      await r.setPhysicalId(id);
      await def.afterCreate?.(r, id);
    },
    async findInterrupted(r) {
      if (r.properties.name) return null;
      const res = await r.client.request('identity', 'GET', `/${k.collection}?name=${encodeURIComponent(r.physicalName())}`);
      return (res.body[k.collection] as any[])[0]?.id ?? null;
    },
    async handleUpdate(r, c) {
      const body = await def.updateBody(r, c);
      if (c.changed.includes('name')) body.name = c.newProperties.name ?? r.physicalName();
      if (Object.keys(body).length) await call(r, 'identity', 'PATCH', `/${k.collection}/${r.physicalId}`, { [k.key]: body });
      await def.afterUpdate?.(r, c);
    },
    async handleDelete(r) {
      if (!r.physicalId) return;
      // Keystone refuses to delete an enabled project that is a domain; projects are disabled first by Heat too.
      await ignoreNotFound(r.client.request('identity', 'DELETE', `/${k.collection}/${r.physicalId}`));
    },
    async resolveAttribute(r, name) {
      const o = await shown(r, k);
      if (!o) return null;
      if (name === 'show') return o;
      return def.attr ? def.attr(o, name) : o[name] ?? null;
    },
    async show(r) { return shown(r, k); },
  };
}

const changed = (c: UpdateChange, map: Record<string, string>) => {
  const out: Record<string, unknown> = {};
  for (const [prop, field] of Object.entries(map)) if (c.changed.includes(prop)) out[field] = c.newProperties[prop] ?? (prop === 'description' ? '' : null);
  return out;
};

export const project = keystonePlugin({
  type: 'OS::Keystone::Project',
  description: 'A Keystone project: what owns cloud resources. It lives in a domain (the default one unless given) and its name is unique only there.',
  kind: { collection: 'projects', key: 'project' },
  properties: {
    name: str("Project name; without one the project gets the resource's physical name.", { update_allowed: true }),
    domain: str('Name or ID of the domain of the project.', { default: 'default', update_allowed: true, constraint: 'keystone.domain' }),
    description: str('Free text about the project.', { default: '', update_allowed: true }),
    enabled: bool('Whether the project is enabled.', { default: true, update_allowed: true }),
    parent: str('Name or ID of the parent project, for a project hierarchy.', { constraint: 'keystone.project' }),
    tags: listOfStr('Tags for the project; on update the list replaces them.', { default: [], update_allowed: true }),
  },
  attributes: {
    name: attr('The project name.', 'string'),
    parent_id: attr('ID of the parent project.', 'string'),
    domain_id: attr('ID of the domain of the project.', 'string'),
    enabled: attr('Whether the project is enabled.', 'boolean'),
    is_domain: attr('Whether the project is also a domain.', 'boolean'),
    description: attr('The project description.', 'string'),
    show: attr('The whole object, as the service shows it.', 'map'),
  },
  async body(r, p) {
    return {
      domain_id: await domainId(r, p.domain), description: p.description ?? '', enabled: p.enabled,
      parent_id: p.parent ? (await resolve(findProject, r.client, p.parent)).id : undefined, tags: p.tags?.length ? p.tags : undefined,
    };
  },
  async updateBody(r, c) {
    const b = changed(c, { description: 'description', enabled: 'enabled', tags: 'tags' });
    if (c.changed.includes('tags')) b.tags = c.newProperties.tags ?? [];
    if (c.changed.includes('domain')) b.domain_id = await domainId(r, c.newProperties.domain);
    return b;
  },
});
// Keystone deletes only disabled projects that are domains; plain projects go at once.

export const user = keystonePlugin({
  type: 'OS::Keystone::User',
  description: 'A Keystone user: a person or program that calls the APIs. It lives in a domain (the default one unless given) and its name is unique only there.',
  kind: { collection: 'users', key: 'user' },
  properties: {
    name: str("User name; without one the user gets the resource's physical name.", { update_allowed: true }),
    domain: str('Name or ID of the domain of the user.', { default: 'default', update_allowed: true, constraint: 'keystone.domain' }),
    description: str('Free text about the user.', { default: '', update_allowed: true }),
    enabled: bool('Whether the user is enabled (may log in).', { default: true, update_allowed: true }),
    email: str("The user's email address.", { update_allowed: true }),
    password: str("The user's password.", { update_allowed: true }),
    default_project: str('Name or ID of the project the user works in by default.', { update_allowed: true, constraint: 'keystone.project' }),
    groups: listOfStr('Names or IDs of groups to put the user in; on update the user joins and leaves groups to match.', { update_allowed: true, itemConstraint: 'keystone.group' }),
    roles: roleAssignments,
  },
  attributes: {
    name: attr('The user name.', 'string'),
    default_project_id: attr("ID of the user's default project.", 'string'),
    domain_id: attr('ID of the domain of the user.', 'string'),
    enabled: attr('Whether the user is enabled.', 'boolean'),
    password_expires_at: attr('When the password expires, or null.', 'string'),
    show: attr('The whole object, as the service shows it.', 'map'),
  },
  async body(r, p) {
    return {
      domain_id: await domainId(r, p.domain), description: p.description ?? '', enabled: p.enabled, email: p.email, password: p.password,
      default_project_id: p.default_project ? (await resolve(findProject, r.client, p.default_project)).id : undefined,
    };
  },
  async afterCreate(r, id) {
    for (const g of r.properties.groups ?? []) await call(r, 'identity', 'PUT', `/groups/${(await resolve(findGroup, r.client, g)).id}/users/${id}`);
    await assignRoles(r, 'users', id, r.properties.roles ?? []);
  },
  async updateBody(r, c) {
    const b = changed(c, { description: 'description', enabled: 'enabled', email: 'email', password: 'password' });
    if (c.changed.includes('domain')) b.domain_id = await domainId(r, c.newProperties.domain);
    if (c.changed.includes('default_project')) b.default_project_id = c.newProperties.default_project ? (await resolve(findProject, r.client, c.newProperties.default_project)).id : null;
    return b;
  },
  async afterUpdate(r, c) {
    if (c.changed.includes('groups')) {
      const before: string[] = c.oldProperties.groups ?? [], after: string[] = c.newProperties.groups ?? [];
      for (const g of before.filter((x) => !after.includes(x))) {
        const grp = await findGroup(r.client, g).catch(() => null);
        if (grp) await ignoreNotFound(r.client.request('identity', 'DELETE', `/groups/${grp.id}/users/${r.physicalId}`));
      }
      for (const g of after.filter((x) => !before.includes(x))) await call(r, 'identity', 'PUT', `/groups/${(await resolve(findGroup, r.client, g)).id}/users/${r.physicalId}`);
    }
    if (c.changed.includes('roles')) await updateRoles(r, 'users', c);
  },
});

export const role = keystonePlugin({
  type: 'OS::Keystone::Role',
  description: 'A Keystone role: a set of rights granted to users or groups on a project or a domain.',
  kind: { collection: 'roles', key: 'role' },
  properties: {
    name: str("Role name; without one the role gets the resource's physical name.", { update_allowed: true }),
    domain: str('Name or ID of a domain, for a role that belongs to that domain alone.', { constraint: 'keystone.domain' }),
  },
  attributes: { show: attr('The whole object, as the service shows it.', 'map') },
  async body(r, p) { return { domain_id: await domainId(r, p.domain) }; },
  async updateBody() { return {}; },
});

export const group = keystonePlugin({
  type: 'OS::Keystone::Group',
  description: 'A Keystone group: users gathered so roles can be granted to all of them at once. It lives in a domain (the default one unless given).',
  kind: { collection: 'groups', key: 'group' },
  properties: {
    name: str("Group name; without one the group gets the resource's physical name.", { update_allowed: true }),
    domain: str('Name or ID of the domain of the group.', { default: 'default', update_allowed: true, constraint: 'keystone.domain' }),
    description: str('Free text about the group.', { default: '', update_allowed: true }),
    roles: roleAssignments,
  },
  attributes: { show: attr('The whole object, as the service shows it.', 'map') },
  async body(r, p) { return { domain_id: await domainId(r, p.domain), description: p.description ?? '' }; },
  async afterCreate(r, id) { await assignRoles(r, 'groups', id, r.properties.roles ?? []); },
  async updateBody(r, c) {
    const b = changed(c, { description: 'description' });
    if (c.changed.includes('domain')) b.domain_id = await domainId(r, c.newProperties.domain);
    return b;
  },
  async afterUpdate(r, c) { if (c.changed.includes('roles')) await updateRoles(r, 'groups', c); },
});

export const KEYSTONE_PLUGINS: ResourcePlugin[] = [project, user, role, group];
