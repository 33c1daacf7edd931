// Groups of users of one domain; role assignments to a group apply to every member.
import type { Queryable, Tx } from '../core/db/index.ts';
import { fromJson, toJson, isUniqueViolation } from '../core/db/index.ts';
import { hexId } from '../core/ids.ts';
import { type Keystone, notFound, conflict } from './keystone.ts';

export interface Group {
  id: string;
  name: string;
  domainId: string;
  description: string | null;
  extra: Record<string, unknown>;
}

const row = (r: any): Group => ({ id: r.id, name: r.name, domainId: r.domain_id, description: r.description ?? null, extra: fromJson(r.extra, {}) });

export async function getGroup(q: Queryable, id: string): Promise<Group | null> {
  const r = await q.get('SELECT * FROM identity_groups WHERE id = ?', [id]);
  return r ? row(r) : null;
}

export async function requireGroup(q: Queryable, id: string): Promise<Group> {
  const g = await getGroup(q, id);
  if (!g) throw notFound('group', id);
  return g;
}

export async function listGroups(q: Queryable, f: { domainId?: string; name?: string; userId?: string } = {}): Promise<Group[]> {
  const where: string[] = [], params: any[] = [];
  if (f.domainId !== undefined) { where.push('domain_id = ?'); params.push(f.domainId); }
  if (f.name !== undefined) { where.push('name = ?'); params.push(f.name); }
  if (f.userId !== undefined) { where.push('id IN (SELECT group_id FROM identity_user_groups WHERE user_id = ?)'); params.push(f.userId); }
  const rows = await q.all(`SELECT * FROM identity_groups${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY name, id`, params);
  return rows.map(row);
}

export async function groupIdsOfUser(q: Queryable, userId: string): Promise<string[]> {
  return (await q.all<{ group_id: string }>('SELECT group_id FROM identity_user_groups WHERE user_id = ?', [userId])).map((r) => r.group_id);
}

export async function memberIds(q: Queryable, groupId: string): Promise<string[]> {
  return (await q.all<{ user_id: string }>('SELECT user_id FROM identity_user_groups WHERE group_id = ?', [groupId])).map((r) => r.user_id);
}

export function groupView(ks: Keystone, g: Group) {
  return {
    ...g.extra,
    id: g.id, name: g.name, domain_id: g.domainId, description: g.description ?? '',
    links: { self: `${ks.v3}/groups/${g.id}` },
  };
}

export async function createGroup(tx: Tx, f: { name: string; domainId: string; description?: string | null; extra?: Record<string, unknown> }): Promise<Group> {
  const g: Group = { id: hexId(), name: f.name, domainId: f.domainId, description: f.description ?? null, extra: f.extra ?? {} };
  try {
    await tx.run('INSERT INTO identity_groups (id, name, domain_id, description, extra) VALUES (?, ?, ?, ?, ?)',
      [g.id, g.name, g.domainId, g.description, toJson(g.extra)]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('group', `Duplicate entry found with name ${g.name} at domain ID ${g.domainId}`);
    throw e;
  }
  return g;
}

export async function updateGroup(tx: Tx, id: string, patch: { name?: string; description?: string | null; extra?: Record<string, unknown> }): Promise<Group> {
  const cur = await requireGroup(tx, id);
  const next: Group = {
    ...cur, name: patch.name ?? cur.name,
    description: patch.description !== undefined ? patch.description : cur.description,
    extra: { ...cur.extra, ...(patch.extra ?? {}) },
  };
  try {
    await tx.run('UPDATE identity_groups SET name = ?, description = ?, extra = ? WHERE id = ?', [next.name, next.description, toJson(next.extra), id]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('group', `Duplicate entry found with name ${next.name} at domain ID ${next.domainId}`);
    throw e;
  }
  return next;
}

export async function deleteGroup(ks: Keystone, tx: Tx, id: string): Promise<void> {
  await requireGroup(tx, id);
  const hadRoles = await tx.get('SELECT 1 AS x FROM identity_assignments WHERE actor_id = ?', [id]);
  const members = await memberIds(tx, id);
  await tx.run('DELETE FROM identity_assignments WHERE actor_id = ?', [id]);
  await tx.run('DELETE FROM identity_groups WHERE id = ?', [id]);
  // Members lose whatever the group granted them.
  if (hadRoles) for (const u of members) await ks.revocations.revoke(tx, { user_id: u });
}

export async function addMember(tx: Tx, groupId: string, userId: string): Promise<void> {
  await tx.run(`INSERT INTO identity_user_groups (user_id, group_id) VALUES (?, ?) ON CONFLICT (user_id, group_id) DO NOTHING`, [userId, groupId]);
}

export async function removeMember(ks: Keystone, tx: Tx, groupId: string, userId: string): Promise<boolean> {
  const { changes } = await tx.run('DELETE FROM identity_user_groups WHERE user_id = ? AND group_id = ?', [userId, groupId]);
  if (changes) await ks.revocations.revoke(tx, { user_id: userId });
  return changes > 0;
}
