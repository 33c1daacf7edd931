// Application credentials: a named secret a user creates for one project, delegating a subset of
// their roles there. Authenticating with it yields a token scoped to that project with those
// roles (as far as the user still holds them). The secret is stored bcrypt-hashed, like passwords.
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson, isUniqueViolation } from '../core/db/index.ts';
import { hexId, nowIso } from '../core/ids.ts';
import { type Keystone, conflict } from './keystone.ts';
import type { RoleRef } from './tokens.ts';

export interface AppCred {
  id: string;
  name: string;
  userId: string;
  projectId: string | null;
  secretHash: string;
  description: string | null;
  expiresAt: string | null;
  unrestricted: boolean;
  system: string | null;
  roles: RoleRef[];
  accessRules: Array<Record<string, unknown>>;
}

const row = (r: any): AppCred => ({
  id: r.id, name: r.name, userId: r.user_id, projectId: r.project_id ?? null, secretHash: r.secret_hash,
  description: r.description ?? null, expiresAt: r.expires_at ?? null, unrestricted: bool(r.unrestricted),
  system: r.system ?? null, roles: fromJson(r.roles, []), accessRules: fromJson(r.access_rules, []),
});

/** expires_at is stored in UTC without a zone suffix (as Keystone shows it). */
export function expiresAtMs(c: Pick<AppCred, 'expiresAt'>): number | null {
  return c.expiresAt ? Date.parse(/[zZ]$/.test(c.expiresAt) ? c.expiresAt : `${c.expiresAt}Z`) : null;
}

export async function getAppCred(q: Queryable, id: string): Promise<AppCred | null> {
  const r = await q.get('SELECT * FROM identity_application_credentials WHERE id = ?', [id]);
  return r ? row(r) : null;
}

export async function getAppCredByName(q: Queryable, userId: string, name: string): Promise<AppCred | null> {
  const r = await q.get('SELECT * FROM identity_application_credentials WHERE user_id = ? AND name = ?', [userId, name]);
  return r ? row(r) : null;
}

export async function listAppCreds(q: Queryable, userId: string, name?: string): Promise<AppCred[]> {
  const rows = name !== undefined
    ? await q.all('SELECT * FROM identity_application_credentials WHERE user_id = ? AND name = ? ORDER BY name', [userId, name])
    : await q.all('SELECT * FROM identity_application_credentials WHERE user_id = ? ORDER BY name', [userId]);
  return rows.map(row);
}

export function appCredView(ks: Keystone, c: AppCred, secret?: string) {
  const v: Record<string, unknown> = {
    id: c.id, name: c.name, description: c.description, user_id: c.userId, project_id: c.projectId, system: c.system,
    expires_at: c.expiresAt, unrestricted: c.unrestricted,
    roles: c.roles.map((r) => ({ id: r.id, name: r.name, domain_id: null })),
    access_rules: c.accessRules,
    links: { self: `${ks.v3}/users/${c.userId}/application_credentials/${c.id}` },
  };
  if (secret !== undefined) v.secret = secret;
  return v;
}

export async function createAppCred(tx: Tx, c: Omit<AppCred, 'id'> & { id?: string }): Promise<AppCred> {
  const cred: AppCred = { ...c, id: c.id ?? hexId() };
  try {
    await tx.run(`INSERT INTO identity_application_credentials
      (id, name, user_id, project_id, secret_hash, description, expires_at, unrestricted, system, roles, access_rules, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [cred.id, cred.name, cred.userId, cred.projectId, cred.secretHash, cred.description, cred.expiresAt, cred.unrestricted ? 1 : 0,
        cred.system, toJson(cred.roles), toJson(cred.accessRules), nowIso()]);
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict('application_credential', `Duplicate entry found with name ${cred.name}`);
    throw e;
  }
  return cred;
}

/** Deletes it; the tokens made from it end with it. */
export async function deleteAppCred(ks: Keystone, tx: Tx, c: Pick<AppCred, 'id'>): Promise<void> {
  await tx.run('DELETE FROM identity_application_credentials WHERE id = ?', [c.id]);
  await ks.revocations.revoke(tx, { application_credential_id: c.id });
}

/** Keystone deletes a user's application credentials when the user is disabled or deleted. */
export async function deleteAppCredsOfUser(ks: Keystone, tx: Tx, userId: string, projectId?: string): Promise<void> {
  const rows = projectId === undefined
    ? await tx.all<{ id: string }>('SELECT id FROM identity_application_credentials WHERE user_id = ?', [userId])
    : await tx.all<{ id: string }>('SELECT id FROM identity_application_credentials WHERE user_id = ? AND project_id = ?', [userId, projectId]);
  for (const r of rows) await deleteAppCred(ks, tx, r);
}
