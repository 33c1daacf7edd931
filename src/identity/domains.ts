// Domains: the namespaces of users, groups and projects. A domain must be disabled before it can
// be deleted, and deleting it deletes everything in it (Keystone's rule).
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson, isUniqueViolation } from '../core/db/index.ts';
import { hexId, nowIso } from '../core/ids.ts';
import { ApiError } from '../core/errors.ts';
import { type Keystone, notFound, conflict } from './keystone.ts';

export interface Domain {
  id: string;
  name: string;
  description: string | null;
  enabled: boolean;
  extra: Record<string, unknown>;
  options: Record<string, unknown>;
}

const row = (r: any): Domain => {
  const extra = fromJson<Record<string, unknown>>(r.extra, {});
  const options = (extra.__options as Record<string, unknown>) ?? {};
  delete extra.__options;
  return { id: r.id, name: r.name, description: r.description, enabled: bool(r.enabled), extra, options };
};

export async function getDomain(q: Queryable, id: string): Promise<Domain | null> {
  const r = await q.get('SELECT * FROM identity_domains WHERE id = ?', [id]);
  return r ? row(r) : null;
}

export async function requireDomain(q: Queryable, id: string): Promise<Domain> {
  const d = await getDomain(q, id);
  if (!d) throw notFound('domain', id);
  return d;
}

export async function getDomainByName(q: Queryable, name: string): Promise<Domain | null> {
  const r = await q.get('SELECT * FROM identity_domains WHERE name = ?', [name]);
  return r ? row(r) : null;
}

export async function listDomains(q: Queryable, f: { name?: string; enabled?: boolean; ids?: string[] } = {}): Promise<Domain[]> {
  const where: string[] = [], params: any[] = [];
  if (f.name !== undefined) { where.push('name = ?'); params.push(f.name); }
  if (f.enabled !== undefined) { where.push('enabled = ?'); params.push(f.enabled ? 1 : 0); }
  if (f.ids) {
    if (!f.ids.length) return [];
    where.push(`id IN (${f.ids.map(() => '?').join(',')})`); params.push(...f.ids);
  }
  const rows = await q.all(`SELECT * FROM identity_domains${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY name`, params);
  return rows.map(row);
}

export function domainView(ks: Keystone, d: Domain) {
  return {
    ...d.extra,
    id: d.id, name: d.name, description: d.description ?? '', enabled: d.enabled,
    tags: [], options: d.options,
    links: { self: `${ks.v3}/domains/${d.id}` },
  };
}

export async function createDomain(tx: Tx, f: { id?: string; name: string; description?: string | null; enabled?: boolean; extra?: Record<string, unknown>; options?: Record<string, unknown> }): Promise<Domain> {
  const d: Domain = {
    id: f.id ?? hexId(), name: f.name, description: f.description ?? null, enabled: f.enabled ?? true,
    extra: f.extra ?? {}, options: f.options ?? {},
  };
  try {
    await tx.run('INSERT INTO identity_domains (id, name, description, enabled, extra, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [d.id, d.name, d.description, d.enabled ? 1 : 0, toJson({ ...d.extra, __options: d.options }), nowIso()]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('domain', `Duplicate entry found with name ${d.name}`);
    throw e;
  }
  return d;
}

export async function updateDomain(ks: Keystone, tx: Tx, id: string, patch: Partial<Omit<Domain, 'id'>>): Promise<Domain> {
  const cur = await requireDomain(tx, id);
  if (cur.options.immutable === true && !(patch.options && patch.options.immutable === false)) {
    throw new ApiError(403, `Resource is immutable: domain ${id}`);
  }
  const next: Domain = {
    ...cur, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
    extra: { ...cur.extra, ...(patch.extra ?? {}) },
    options: { ...cur.options, ...(patch.options ?? {}) },
  };
  for (const [k, v] of Object.entries(next.options)) if (v === null) delete next.options[k];
  try {
    await tx.run('UPDATE identity_domains SET name = ?, description = ?, enabled = ?, extra = ? WHERE id = ?',
      [next.name, next.description, next.enabled ? 1 : 0, toJson({ ...next.extra, __options: next.options }), id]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('domain', `Duplicate entry found with name ${next.name}`);
    throw e;
  }
  // Disabling a domain invalidates every token of its users and of its projects.
  if (cur.enabled && !next.enabled) await ks.revocations.revoke(tx, { domain_id: id });
  return next;
}

/** Deletes a disabled domain and everything it owns. */
export async function deleteDomain(ks: Keystone, tx: Tx, id: string): Promise<void> {
  const d = await requireDomain(tx, id);
  if (d.enabled) {
    throw new ApiError(403, 'Cannot delete a domain that is enabled, please disable it first.');
  }
  if (d.options.immutable === true) throw new ApiError(403, `Resource is immutable: domain ${id}`);
  // Projects leaf first (parent_id references), then users and groups, then the domain's roles.
  const projects = await tx.all<{ id: string; parent_id: string | null }>('SELECT id, parent_id FROM identity_projects WHERE domain_id = ?', [id]);
  const ids = new Set(projects.map((p) => p.id));
  const order: string[] = [];
  const children = new Map<string, string[]>();
  for (const p of projects) if (p.parent_id && ids.has(p.parent_id)) children.set(p.parent_id, [...(children.get(p.parent_id) ?? []), p.id]);
  const visit = (pid: string) => { for (const c of children.get(pid) ?? []) visit(c); order.push(pid); };
  for (const p of projects) if (!p.parent_id || !ids.has(p.parent_id)) visit(p.id);
  for (const pid of order) {
    await tx.run('DELETE FROM identity_assignments WHERE target_id = ?', [pid]);
    await tx.run('DELETE FROM identity_projects WHERE id = ?', [pid]);
  }
  const actors = await tx.all<{ id: string }>('SELECT id FROM identity_users WHERE domain_id = ? UNION SELECT id FROM identity_groups WHERE domain_id = ?', [id, id]);
  for (const a of actors) await tx.run('DELETE FROM identity_assignments WHERE actor_id = ?', [a.id]);
  await tx.run('DELETE FROM identity_users WHERE domain_id = ?', [id]);
  await tx.run('DELETE FROM identity_groups WHERE domain_id = ?', [id]);
  await tx.run('DELETE FROM identity_roles WHERE domain_id = ?', [id]);
  await tx.run('DELETE FROM identity_assignments WHERE target_id = ?', [id]);
  await tx.run('DELETE FROM identity_domains WHERE id = ?', [id]);
  await ks.revocations.revoke(tx, { domain_id: id });
}
