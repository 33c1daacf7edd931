// Users: local SQL identities with a bcrypt password. Attributes Keystone does not model (email,
// description ...) are kept in `extra` and shown back as top-level fields, as Keystone does.
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson, isUniqueViolation } from '../core/db/index.ts';
import { hexId, nowIso } from '../core/ids.ts';
import { type Keystone, notFound, conflict } from './keystone.ts';
import { deleteAppCredsOfUser } from './appcreds.ts';

export interface User {
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
  defaultProjectId: string | null;
  passwordHash: string | null;
  options: Record<string, unknown>;
  extra: Record<string, unknown>;
}

/** The user options Keystone knows (keystone/identity/backends/resource_options.py). */
export const USER_OPTIONS: Record<string, 'boolean' | 'array'> = {
  ignore_change_password_upon_first_use: 'boolean',
  ignore_password_expiry: 'boolean',
  ignore_lockout_failure_attempts: 'boolean',
  lock_password: 'boolean',
  ignore_user_inactivity: 'boolean',
  multi_factor_auth_rules: 'array',
  multi_factor_auth_enabled: 'boolean',
};

const row = (r: any): User => ({
  id: r.id, name: r.name, domainId: r.domain_id, enabled: bool(r.enabled), defaultProjectId: r.default_project_id ?? null,
  passwordHash: r.password_hash ?? null, options: fromJson(r.options, {}), extra: fromJson(r.extra, {}),
});

export async function getUser(q: Queryable, id: string): Promise<User | null> {
  const r = await q.get('SELECT * FROM identity_users WHERE id = ?', [id]);
  return r ? row(r) : null;
}

export async function requireUser(q: Queryable, id: string): Promise<User> {
  const u = await getUser(q, id);
  if (!u) throw notFound('user', id);
  return u;
}

export async function getUserByName(q: Queryable, domainId: string, name: string): Promise<User | null> {
  const r = await q.get('SELECT * FROM identity_users WHERE domain_id = ? AND name = ?', [domainId, name]);
  return r ? row(r) : null;
}

export async function listUsers(q: Queryable, f: { domainId?: string; name?: string; enabled?: boolean; ids?: string[]; groupId?: string } = {}): Promise<User[]> {
  const where: string[] = [], params: any[] = [];
  if (f.domainId !== undefined) { where.push('domain_id = ?'); params.push(f.domainId); }
  if (f.name !== undefined) { where.push('name = ?'); params.push(f.name); }
  if (f.enabled !== undefined) { where.push('enabled = ?'); params.push(f.enabled ? 1 : 0); }
  if (f.groupId !== undefined) { where.push('id IN (SELECT user_id FROM identity_user_groups WHERE group_id = ?)'); params.push(f.groupId); }
  if (f.ids) {
    if (!f.ids.length) return [];
    where.push(`id IN (${f.ids.map(() => '?').join(',')})`); params.push(...f.ids);
  }
  const rows = await q.all(`SELECT * FROM identity_users${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY name, id`, params);
  return rows.map(row);
}

export function userView(ks: Keystone, u: User) {
  const v: Record<string, unknown> = {
    ...u.extra,
    id: u.id, name: u.name, domain_id: u.domainId, enabled: u.enabled,
    password_expires_at: null, options: u.options,
    links: { self: `${ks.v3}/users/${u.id}` },
  };
  if (u.defaultProjectId) v.default_project_id = u.defaultProjectId;
  return v;
}

export interface UserInput {
  id?: string;
  name: string;
  domainId: string;
  enabled?: boolean;
  defaultProjectId?: string | null;
  passwordHash?: string | null;
  options?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

export async function createUser(tx: Tx, f: UserInput): Promise<User> {
  const u: User = {
    id: f.id ?? hexId(), name: f.name, domainId: f.domainId, enabled: f.enabled ?? true,
    defaultProjectId: f.defaultProjectId ?? null, passwordHash: f.passwordHash ?? null,
    options: f.options ?? {}, extra: f.extra ?? {},
  };
  const now = nowIso();
  try {
    await tx.run(`INSERT INTO identity_users (id, name, domain_id, enabled, default_project_id, password_hash, password_created_at, options, extra, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [u.id, u.name, u.domainId, u.enabled ? 1 : 0, u.defaultProjectId, u.passwordHash, u.passwordHash ? now : null, toJson(u.options), toJson(u.extra), now]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('user', `Duplicate entry found with name ${u.name} at domain ID ${u.domainId}`);
    throw e;
  }
  return u;
}

export async function updateUser(ks: Keystone, tx: Tx, id: string, patch: Partial<Omit<UserInput, 'id' | 'domainId'>>): Promise<User> {
  const cur = await requireUser(tx, id);
  const next: User = {
    ...cur,
    name: patch.name ?? cur.name,
    enabled: patch.enabled ?? cur.enabled,
    defaultProjectId: patch.defaultProjectId !== undefined ? patch.defaultProjectId : cur.defaultProjectId,
    passwordHash: patch.passwordHash !== undefined ? patch.passwordHash : cur.passwordHash,
    options: { ...cur.options, ...(patch.options ?? {}) },
    extra: { ...cur.extra, ...(patch.extra ?? {}) },
  };
  for (const [k, v] of Object.entries(next.options)) if (v === null) delete next.options[k];
  try {
    await tx.run(`UPDATE identity_users SET name = ?, enabled = ?, default_project_id = ?, password_hash = ?, options = ?, extra = ?,
      password_created_at = CASE WHEN ? = 1 THEN ? ELSE password_created_at END WHERE id = ?`,
      [next.name, next.enabled ? 1 : 0, next.defaultProjectId, next.passwordHash, toJson(next.options), toJson(next.extra),
        patch.passwordHash !== undefined ? 1 : 0, nowIso(), id]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('user', `Duplicate entry found with name ${next.name} at domain ID ${next.domainId}`);
    throw e;
  }
  // Disabling a user or changing the password ends every token the user holds; disabling also
  // deletes the user's application credentials (Keystone's rule).
  if ((cur.enabled && !next.enabled) || patch.passwordHash !== undefined) await ks.revocations.revoke(tx, { user_id: id });
  if (cur.enabled && !next.enabled) await deleteAppCredsOfUser(ks, tx, id);
  return next;
}

export async function deleteUser(ks: Keystone, tx: Tx, id: string): Promise<void> {
  await requireUser(tx, id);
  await tx.run('DELETE FROM identity_assignments WHERE actor_id = ?', [id]);
  // Group memberships and application credentials go with the user (ON DELETE CASCADE).
  await tx.run('DELETE FROM identity_users WHERE id = ?', [id]);
  await ks.revocations.revoke(tx, { user_id: id });
}
