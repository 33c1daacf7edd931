// Projects: owned by a domain, optionally nested under a parent project of the same domain.
// A top-level project shows its domain as parent_id, as Keystone does.
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson, isUniqueViolation } from '../core/db/index.ts';
import { hexId, nowIso } from '../core/ids.ts';
import { ApiError } from '../core/errors.ts';
import { type Keystone, notFound, conflict, validationError } from './keystone.ts';

export interface Project {
  id: string;
  name: string;
  domainId: string;
  parentId: string | null; // null: top-level (its parent is the domain)
  description: string | null;
  enabled: boolean;
  tags: string[];
  extra: Record<string, unknown>;
  options: Record<string, unknown>;
}

/** Keystone's hierarchy limit ([DEFAULT] max_project_tree_depth). */
export const MAX_PROJECT_TREE_DEPTH = 5;

async function withTags(q: Queryable, rows: any[]): Promise<Project[]> {
  if (!rows.length) return [];
  const tags = new Map<string, string[]>();
  // Chunked so the IN list stays within both databases' parameter limits.
  for (let i = 0; i < rows.length; i += 500) {
    const ids = rows.slice(i, i + 500).map((r) => r.id);
    const ts = await q.all<{ project_id: string; name: string }>(
      `SELECT project_id, name FROM identity_project_tags WHERE project_id IN (${ids.map(() => '?').join(',')}) ORDER BY name`, ids);
    for (const t of ts) tags.set(t.project_id, [...(tags.get(t.project_id) ?? []), t.name]);
  }
  return rows.map((r) => {
    const extra = fromJson<Record<string, unknown>>(r.extra, {});
    const options = (extra.__options as Record<string, unknown>) ?? {};
    delete extra.__options;
    return {
      id: r.id, name: r.name, domainId: r.domain_id, parentId: r.parent_id ?? null, description: r.description,
      enabled: bool(r.enabled), tags: tags.get(r.id) ?? [], extra, options,
    };
  });
}

export async function getProject(q: Queryable, id: string): Promise<Project | null> {
  const r = await q.get('SELECT * FROM identity_projects WHERE id = ?', [id]);
  return r ? (await withTags(q, [r]))[0] : null;
}

export async function requireProject(q: Queryable, id: string): Promise<Project> {
  const p = await getProject(q, id);
  if (!p) throw notFound('project', id);
  return p;
}

export async function getProjectByName(q: Queryable, domainId: string, name: string): Promise<Project | null> {
  const r = await q.get('SELECT * FROM identity_projects WHERE domain_id = ? AND name = ?', [domainId, name]);
  return r ? (await withTags(q, [r]))[0] : null;
}

export interface ProjectFilter {
  domainId?: string;
  name?: string;
  enabled?: boolean;
  parentId?: string; // a project id, or a domain id for top-level projects
  ids?: string[];
  tags?: string[]; tagsAny?: string[]; notTags?: string[]; notTagsAny?: string[];
}

export async function listProjects(q: Queryable, f: ProjectFilter = {}): Promise<Project[]> {
  const where: string[] = [], params: any[] = [];
  if (f.domainId !== undefined) { where.push('domain_id = ?'); params.push(f.domainId); }
  if (f.name !== undefined) { where.push('name = ?'); params.push(f.name); }
  if (f.enabled !== undefined) { where.push('enabled = ?'); params.push(f.enabled ? 1 : 0); }
  if (f.parentId !== undefined) {
    where.push('(parent_id = ? OR (parent_id IS NULL AND domain_id = ?))'); params.push(f.parentId, f.parentId);
  }
  if (f.ids) {
    if (!f.ids.length) return [];
    where.push(`id IN (${f.ids.map(() => '?').join(',')})`); params.push(...f.ids);
  }
  const tagSub = 'SELECT project_id FROM identity_project_tags WHERE name = ?';
  for (const t of f.tags ?? []) { where.push(`id IN (${tagSub})`); params.push(t); }
  if (f.tagsAny?.length) { where.push(`id IN (SELECT project_id FROM identity_project_tags WHERE name IN (${f.tagsAny.map(() => '?').join(',')}))`); params.push(...f.tagsAny); }
  if (f.notTags?.length) {
    // Not having all of them: at least one is missing.
    where.push(`(${f.notTags.map(() => `id NOT IN (${tagSub})`).join(' OR ')})`); params.push(...f.notTags);
  }
  if (f.notTagsAny?.length) { where.push(`id NOT IN (SELECT project_id FROM identity_project_tags WHERE name IN (${f.notTagsAny.map(() => '?').join(',')}))`); params.push(...f.notTagsAny); }
  const rows = await q.all(`SELECT * FROM identity_projects${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY name, id`, params);
  return withTags(q, rows);
}

/** Ancestors, nearest first (the domain is not included). */
export async function ancestors(q: Queryable, p: Project): Promise<Project[]> {
  const out: Project[] = [];
  let cur = p;
  while (cur.parentId && out.length < 100) {
    const parent = await getProject(q, cur.parentId);
    if (!parent) break;
    out.push(parent);
    cur = parent;
  }
  return out;
}

/** Every descendant, breadth first. */
export async function descendants(q: Queryable, id: string): Promise<Project[]> {
  const out: Project[] = [];
  let frontier = [id];
  while (frontier.length && out.length < 100_000) {
    const rows = await q.all(`SELECT * FROM identity_projects WHERE parent_id IN (${frontier.map(() => '?').join(',')}) ORDER BY name`, frontier);
    const ps = await withTags(q, rows);
    out.push(...ps);
    frontier = ps.map((p) => p.id);
  }
  return out;
}

export function projectView(ks: Keystone, p: Project) {
  return {
    ...p.extra,
    id: p.id, name: p.name, domain_id: p.domainId, parent_id: p.parentId ?? p.domainId,
    description: p.description ?? '', enabled: p.enabled, is_domain: false, tags: p.tags, options: p.options,
    links: { self: `${ks.v3}/projects/${p.id}` },
  };
}

export interface ProjectInput {
  id?: string;
  name: string;
  domainId: string;
  parentId?: string | null;
  description?: string | null;
  enabled?: boolean;
  tags?: string[];
  extra?: Record<string, unknown>;
  options?: Record<string, unknown>;
}

async function setTags(tx: Tx, id: string, tags: string[]) {
  await tx.run('DELETE FROM identity_project_tags WHERE project_id = ?', [id]);
  for (const t of tags) await tx.run('INSERT INTO identity_project_tags (project_id, name) VALUES (?, ?)', [id, t]);
}

export async function createProject(tx: Tx, f: ProjectInput): Promise<Project> {
  const p: Project = {
    id: f.id ?? hexId(), name: f.name, domainId: f.domainId, parentId: f.parentId ?? null,
    description: f.description ?? null, enabled: f.enabled ?? true, tags: f.tags ?? [], extra: f.extra ?? {}, options: f.options ?? {},
  };
  if (p.parentId) {
    const parent = await requireProject(tx, p.parentId);
    if (parent.domainId !== p.domainId) throw validationError('Cannot create project, the parent project is in a different domain.');
    const depth = (await ancestors(tx, parent)).length + 2;
    if (depth > MAX_PROJECT_TREE_DEPTH) {
      throw for403(`Max hierarchy depth reached for ${parent.id} branch.`);
    }
  }
  try {
    await tx.run(`INSERT INTO identity_projects (id, name, domain_id, parent_id, description, enabled, extra, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [p.id, p.name, p.domainId, p.parentId, p.description, p.enabled ? 1 : 0, toJson({ ...p.extra, __options: p.options }), nowIso()]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('project', `Duplicate entry found with name ${p.name} at domain ID ${p.domainId}`);
    throw e;
  }
  await setTags(tx, p.id, p.tags);
  return p;
}

const for403 = (m: string) => new ApiError(403, m);

export async function updateProject(ks: Keystone, tx: Tx, id: string, patch: Partial<Omit<ProjectInput, 'id' | 'domainId' | 'parentId'>>): Promise<Project> {
  const cur = await requireProject(tx, id);
  if (cur.options.immutable === true && !(patch.options && patch.options.immutable === false)) {
    throw for403(`Resource is immutable: project ${id}`);
  }
  const next: Project = {
    ...cur,
    name: patch.name ?? cur.name,
    description: patch.description !== undefined ? patch.description : cur.description,
    enabled: patch.enabled ?? cur.enabled,
    tags: patch.tags ?? cur.tags,
    extra: { ...cur.extra, ...(patch.extra ?? {}) },
    options: { ...cur.options, ...(patch.options ?? {}) },
  };
  for (const [k, v] of Object.entries(next.options)) if (v === null) delete next.options[k];
  if (cur.enabled && !next.enabled) {
    // Keystone refuses to disable a project whose subtree still has enabled projects.
    const enabledChild = await tx.get('SELECT id FROM identity_projects WHERE parent_id = ? AND enabled = 1', [id]);
    if (enabledChild) throw for403(`Cannot disable project ${id} since its subtree contains enabled projects.`);
  }
  if (!cur.enabled && next.enabled && cur.parentId) {
    const parent = await getProject(tx, cur.parentId);
    if (parent && !parent.enabled) throw for403(`Cannot enable project ${id} since it has disabled parents.`);
  }
  try {
    await tx.run('UPDATE identity_projects SET name = ?, description = ?, enabled = ?, extra = ? WHERE id = ?',
      [next.name, next.description, next.enabled ? 1 : 0, toJson({ ...next.extra, __options: next.options }), id]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('project', `Duplicate entry found with name ${next.name} at domain ID ${next.domainId}`);
    throw e;
  }
  if (patch.tags) await setTags(tx, id, next.tags);
  if (cur.enabled && !next.enabled) await ks.revocations.revoke(tx, { project_id: id });
  return next;
}

/** Deletes a leaf project (or, with cascade, its whole subtree) with its role assignments. */
export async function deleteProject(ks: Keystone, tx: Tx, id: string, cascade = false): Promise<void> {
  const p = await requireProject(tx, id);
  if (p.options.immutable === true) throw for403(`Resource is immutable: project ${id}`);
  const subtree = await descendants(tx, id);
  if (subtree.length && !cascade) {
    throw for403(`Cannot delete the project ${id} since it is not a leaf in the hierarchy. Use the cascade option if you want to delete a whole subtree.`);
  }
  if (cascade && subtree.some((c) => c.enabled)) {
    throw for403(`Cannot delete project ${id} since its subtree contains enabled projects.`);
  }
  for (const victim of [...subtree.reverse(), p]) {
    await tx.run('DELETE FROM identity_assignments WHERE target_id = ?', [victim.id]);
    await tx.run('DELETE FROM identity_application_credentials WHERE project_id = ?', [victim.id]);
    await tx.run('DELETE FROM identity_projects WHERE id = ?', [victim.id]);
    await ks.revocations.revoke(tx, { project_id: victim.id });
  }
}
