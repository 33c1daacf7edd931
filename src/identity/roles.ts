// Roles (global, or domain-specific when domain_id is set) and implied roles (prior -> implied,
// e.g. admin -> member -> reader): a role assignment grants the role and everything it implies.
import type { Queryable, Tx } from '../core/db/index.ts';
import { fromJson, toJson, isUniqueViolation } from '../core/db/index.ts';
import { hexId } from '../core/ids.ts';
import { ApiError } from '../core/errors.ts';
import { type Keystone, notFound, conflict, NULL_DOMAIN_ID } from './keystone.ts';
import type { RoleRef } from './tokens.ts';
import { deleteAppCredsOfUser } from './appcreds.ts';

export interface Role {
  id: string;
  name: string;
  domainId: string | null;
  description: string | null;
  options: Record<string, unknown>;
  extra: Record<string, unknown>;
}

const row = (r: any): Role => ({
  id: r.id, name: r.name, domainId: r.domain_id === NULL_DOMAIN_ID ? null : r.domain_id, description: r.description ?? null,
  options: fromJson(r.options, {}), extra: fromJson(r.extra, {}),
});

export async function getRole(q: Queryable, id: string): Promise<Role | null> {
  const r = await q.get('SELECT * FROM identity_roles WHERE id = ?', [id]);
  return r ? row(r) : null;
}

export async function requireRole(q: Queryable, id: string): Promise<Role> {
  const r = await getRole(q, id);
  if (!r) throw notFound('role', id);
  return r;
}

export async function getRoleByName(q: Queryable, name: string, domainId: string | null = null): Promise<Role | null> {
  const r = await q.get('SELECT * FROM identity_roles WHERE name = ? AND domain_id = ?', [name, domainId ?? NULL_DOMAIN_ID]);
  return r ? row(r) : null;
}

export async function listRoles(q: Queryable, f: { name?: string; domainId?: string | null; ids?: string[] } = {}): Promise<Role[]> {
  const where: string[] = [], params: any[] = [];
  if (f.name !== undefined) { where.push('name = ?'); params.push(f.name); }
  if (f.domainId !== undefined) { where.push('domain_id = ?'); params.push(f.domainId ?? NULL_DOMAIN_ID); }
  if (f.ids) {
    if (!f.ids.length) return [];
    where.push(`id IN (${f.ids.map(() => '?').join(',')})`); params.push(...f.ids);
  }
  const rows = await q.all(`SELECT * FROM identity_roles${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY name`, params);
  return rows.map(row);
}

export function roleView(ks: Keystone, r: Role) {
  return {
    ...r.extra,
    id: r.id, name: r.name, domain_id: r.domainId, description: r.description, options: r.options,
    links: { self: `${ks.v3}/roles/${r.id}` },
  };
}

/** The short form used in implied-role responses. */
export function roleRefView(ks: Keystone, r: Role) {
  return { id: r.id, name: r.name, links: { self: `${ks.v3}/roles/${r.id}` } };
}

export async function createRole(tx: Tx, f: Omit<Role, 'id' | 'description' | 'options' | 'extra'> & Partial<Pick<Role, 'id' | 'description' | 'options' | 'extra'>>): Promise<Role> {
  const r: Role = { id: f.id ?? hexId(), name: f.name, domainId: f.domainId, description: f.description ?? null, options: f.options ?? {}, extra: f.extra ?? {} };
  try {
    await tx.run('INSERT INTO identity_roles (id, name, domain_id, description, options, extra) VALUES (?, ?, ?, ?, ?, ?)',
      [r.id, r.name, r.domainId ?? NULL_DOMAIN_ID, r.description, toJson(r.options), toJson(r.extra)]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('role', `Duplicate entry found with name ${r.name}`);
    throw e;
  }
  return r;
}

const immutable = (r: Role) => r.options.immutable === true;

export async function updateRole(tx: Tx, id: string, patch: Partial<Pick<Role, 'name' | 'description' | 'options' | 'extra'>>): Promise<Role> {
  const cur = await requireRole(tx, id);
  if (immutable(cur) && !(patch.options && patch.options.immutable === false)) {
    throw new ApiError(403, `Resource is immutable: role ${id}`);
  }
  const next: Role = {
    ...cur,
    name: patch.name ?? cur.name,
    description: patch.description !== undefined ? patch.description : cur.description,
    options: { ...cur.options, ...(patch.options ?? {}) },
    extra: { ...cur.extra, ...(patch.extra ?? {}) },
  };
  for (const [k, v] of Object.entries(next.options)) if (v === null) delete next.options[k];
  try {
    await tx.run('UPDATE identity_roles SET name = ?, description = ?, options = ?, extra = ? WHERE id = ?',
      [next.name, next.description, toJson(next.options), toJson(next.extra), id]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('role', `Duplicate entry found with name ${next.name}`);
    throw e;
  }
  return next;
}

export async function deleteRole(ks: Keystone, tx: Tx, id: string): Promise<void> {
  const r = await requireRole(tx, id);
  if (immutable(r)) throw new ApiError(403, `Resource is immutable: role ${id}`);
  // As Keystone: users' application credentials on projects where they were granted the role go.
  const grants = await tx.all<{ actor_id: string; target_id: string }>(
    "SELECT DISTINCT actor_id, target_id FROM identity_assignments WHERE role_id = ? AND type = 'UserProject'", [id]);
  for (const g of grants) await deleteAppCredsOfUser(ks, tx, g.actor_id, g.target_id);
  // Assignments and inference rules go with it (ON DELETE CASCADE); tokens carrying it end.
  await tx.run('DELETE FROM identity_roles WHERE id = ?', [id]);
  await ks.revocations.revoke(tx, { role_id: id });
}

export interface Implication { prior: string; implied: string }

export async function listImplications(q: Queryable): Promise<Implication[]> {
  return (await q.all<{ prior_role_id: string; implied_role_id: string }>('SELECT prior_role_id, implied_role_id FROM identity_implied_roles'))
    .map((r) => ({ prior: r.prior_role_id, implied: r.implied_role_id }));
}

/** Role ids plus everything they imply, transitively. */
export function expandImplied(roleIds: Iterable<string>, implications: Implication[]): Set<string> {
  const out = new Set(roleIds);
  const next = new Map<string, string[]>();
  for (const i of implications) next.set(i.prior, [...(next.get(i.prior) ?? []), i.implied]);
  const stack = [...out];
  while (stack.length) {
    for (const j of next.get(stack.pop()!) ?? []) if (!out.has(j)) { out.add(j); stack.push(j); }
  }
  return out;
}

/** Role refs for token payloads, by id, sorted by name. */
export async function roleRefs(q: Queryable, ids: Iterable<string>): Promise<RoleRef[]> {
  const roles = await listRoles(q, { ids: [...ids] });
  return roles.map((r) => ({ id: r.id, name: r.name }));
}

export async function createImplication(tx: Tx, prior: Role, implied: Role): Promise<void> {
  // Keystone forbids a global role implying a domain-specific one, and inference cycles.
  if (implied.domainId && !prior.domainId) {
    throw new ApiError(403, `Implied role ${implied.id} is domain specific: a global role cannot imply a domain-specific role.`);
  }
  const all = await listImplications(tx);
  if (prior.id === implied.id || expandImplied([implied.id], all).has(prior.id)) {
    throw new ApiError(409, `Conflict occurred attempting to store implied_role - ${prior.id} implying ${implied.id} would create a circular reference.`);
  }
  await tx.run(`INSERT INTO identity_implied_roles (prior_role_id, implied_role_id) VALUES (?, ?)
    ON CONFLICT (prior_role_id, implied_role_id) DO NOTHING`, [prior.id, implied.id]);
}
