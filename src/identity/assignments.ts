// Role assignments ("grants"): a user or group holds a role on a project, a domain or the
// system, directly or (OS-INHERIT) inherited by every project below a domain or project. The
// effective roles of a user on a scope add group memberships, inheritance and implied roles.
// Changes that take a role away write revocation events, since tokens carry their roles.
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool } from '../core/db/index.ts';
import { type Keystone, SYSTEM_TARGET } from './keystone.ts';
import { groupIdsOfUser, memberIds } from './groups.ts';
import { ancestors, descendants, getProject, listProjects, type Project } from './projects.ts';
import { expandImplied, listImplications, listRoles } from './roles.ts';

export type ActorType = 'user' | 'group';
export type TargetType = 'project' | 'domain' | 'system';

export interface Grant {
  actorType: ActorType;
  actorId: string;
  targetType: TargetType;
  targetId: string; // 'system' for the system
  roleId: string;
  inherited: boolean;
}

const TYPE: Record<ActorType, Record<TargetType, string>> = {
  user: { project: 'UserProject', domain: 'UserDomain', system: 'UserSystem' },
  group: { project: 'GroupProject', domain: 'GroupDomain', system: 'GroupSystem' },
};

function parseType(t: string): { actorType: ActorType; targetType: TargetType } {
  return {
    actorType: t.startsWith('User') ? 'user' : 'group',
    targetType: t.endsWith('Project') ? 'project' : t.endsWith('Domain') ? 'domain' : 'system',
  };
}

const rowToGrant = (r: any): Grant => ({ ...parseType(r.type), actorId: r.actor_id, targetId: r.target_id, roleId: r.role_id, inherited: bool(r.inherited) });

export async function createGrant(tx: Tx, g: Grant): Promise<void> {
  await tx.run(`INSERT INTO identity_assignments (type, actor_id, target_id, role_id, inherited) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (type, actor_id, target_id, role_id, inherited) DO NOTHING`,
    [TYPE[g.actorType][g.targetType], g.actorId, g.targetId, g.roleId, g.inherited ? 1 : 0]);
}

export async function checkGrant(q: Queryable, g: Grant): Promise<boolean> {
  return !!(await q.get('SELECT 1 AS x FROM identity_assignments WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?',
    [TYPE[g.actorType][g.targetType], g.actorId, g.targetId, g.roleId, g.inherited ? 1 : 0]));
}

/** Role ids granted directly to an actor on a target. */
export async function listGrantRoleIds(q: Queryable, actorType: ActorType, actorId: string, targetType: TargetType, targetId: string, inherited: boolean): Promise<string[]> {
  return (await q.all<{ role_id: string }>('SELECT role_id FROM identity_assignments WHERE type = ? AND actor_id = ? AND target_id = ? AND inherited = ?',
    [TYPE[actorType][targetType], actorId, targetId, inherited ? 1 : 0])).map((r) => r.role_id);
}

/** Removes a grant; the affected users' tokens holding that role are revoked. */
export async function deleteGrant(ks: Keystone, tx: Tx, g: Grant): Promise<boolean> {
  const { changes } = await tx.run('DELETE FROM identity_assignments WHERE type = ? AND actor_id = ? AND target_id = ? AND role_id = ? AND inherited = ?',
    [TYPE[g.actorType][g.targetType], g.actorId, g.targetId, g.roleId, g.inherited ? 1 : 0]);
  if (!changes) return false;
  const users = g.actorType === 'user' ? [g.actorId] : await memberIds(tx, g.actorId);
  // Which tokens carried the role through this grant: those scoped to its target, or (inherited)
  // to the projects below it.
  const scopes: Array<{ scope_id?: string; domain_id?: string }> = !g.inherited
    ? [{ scope_id: g.targetType === 'system' ? 'system' : g.targetId }]
    : g.targetType === 'domain' ? [{ domain_id: g.targetId }]
      : (await descendants(tx, g.targetId)).map((p) => ({ scope_id: p.id }));
  // Application credentials stay: authenticating with one only grants the roles the user
  // still holds, as in Keystone.
  for (const u of users) {
    for (const sc of scopes) await ks.revocations.revoke(tx, { user_id: u, role_id: g.roleId, ...sc });
  }
  return true;
}

export type Scope = { projectId: string } | { domainId: string } | { system: true };

/** Direct role ids (implied not yet added) a user holds on a scope, through groups and inheritance too. */
async function directRoleIds(q: Queryable, userId: string, scope: Scope, project?: Project): Promise<string[]> {
  const actors = [userId, ...(await groupIdsOfUser(q, userId))];
  const inActors = actors.map(() => '?').join(',');
  if ('system' in scope) {
    return (await q.all<{ role_id: string }>(`SELECT role_id FROM identity_assignments WHERE actor_id IN (${inActors}) AND type IN ('UserSystem', 'GroupSystem') AND target_id = ?`,
      [...actors, SYSTEM_TARGET])).map((r) => r.role_id);
  }
  if ('domainId' in scope) {
    return (await q.all<{ role_id: string }>(`SELECT role_id FROM identity_assignments WHERE actor_id IN (${inActors}) AND type IN ('UserDomain', 'GroupDomain') AND target_id = ? AND inherited = 0`,
      [...actors, scope.domainId])).map((r) => r.role_id);
  }
  const p = project ?? (await getProject(q, scope.projectId));
  if (!p) return [];
  const inheritFrom = [p.domainId, ...(await ancestors(q, p)).map((a) => a.id)];
  return (await q.all<{ role_id: string }>(`SELECT role_id FROM identity_assignments WHERE actor_id IN (${inActors}) AND (
      (target_id = ? AND inherited = 0 AND type IN ('UserProject', 'GroupProject'))
      OR (inherited = 1 AND target_id IN (${inheritFrom.map(() => '?').join(',')})))`,
    [...actors, p.id, ...inheritFrom])).map((r) => r.role_id);
}

/**
 * Effective role ids on a scope: direct, via groups, inherited, plus implied roles. Domain-specific
 * roles only contribute the global roles they imply, as in Keystone.
 */
export async function effectiveRoleIds(q: Queryable, userId: string, scope: Scope, project?: Project): Promise<Set<string>> {
  const direct = await directRoleIds(q, userId, scope, project);
  if (!direct.length) return new Set();
  const all = expandImplied(direct, await listImplications(q));
  const roles = await listRoles(q, { ids: [...all] });
  return new Set(roles.filter((r) => !r.domainId).map((r) => r.id));
}

/** Projects where the user has at least one role (directly, via a group or inherited). */
export async function projectIdsForUser(q: Queryable, userId: string): Promise<string[]> {
  const actors = [userId, ...(await groupIdsOfUser(q, userId))];
  const rows = await q.all<{ type: string; target_id: string; inherited: number }>(
    `SELECT DISTINCT type, target_id, inherited FROM identity_assignments WHERE actor_id IN (${actors.map(() => '?').join(',')}) AND type IN ('UserProject', 'GroupProject', 'UserDomain', 'GroupDomain')`,
    actors);
  const ids = new Set<string>();
  for (const r of rows) {
    const { targetType } = parseType(r.type);
    if (targetType === 'project') {
      if (!bool(r.inherited)) ids.add(r.target_id);
      else for (const d of await descendants(q, r.target_id)) ids.add(d.id);
    } else if (bool(r.inherited)) {
      for (const p of await listProjects(q, { domainId: r.target_id })) ids.add(p.id);
    }
  }
  return [...ids];
}

/** Domains where the user has a (non-inherited) role. */
export async function domainIdsForUser(q: Queryable, userId: string): Promise<string[]> {
  const actors = [userId, ...(await groupIdsOfUser(q, userId))];
  const rows = await q.all<{ target_id: string }>(
    `SELECT DISTINCT target_id FROM identity_assignments WHERE actor_id IN (${actors.map(() => '?').join(',')}) AND type IN ('UserDomain', 'GroupDomain') AND inherited = 0`,
    actors);
  return rows.map((r) => r.target_id);
}

/** One row of GET /v3/role_assignments before formatting. */
export interface AssignmentRef {
  userId?: string;
  groupId?: string;
  projectId?: string;
  domainId?: string;
  system?: boolean;
  roleId: string;
  inherited: boolean;
  /** How an effective assignment was reached. */
  indirect?: { groupId?: string; domainId?: string; projectId?: string; roleId?: string };
}

export interface AssignmentQuery {
  userId?: string;
  groupId?: string;
  roleId?: string;
  projectId?: string;
  domainId?: string;
  system?: boolean;
  inherited?: boolean; // scope.OS-INHERIT:inherited_to=projects
  effective?: boolean;
  includeSubtree?: boolean;
}

function refOf(g: Grant): AssignmentRef {
  const r: AssignmentRef = { roleId: g.roleId, inherited: g.inherited };
  if (g.actorType === 'user') r.userId = g.actorId; else r.groupId = g.actorId;
  if (g.targetType === 'project') r.projectId = g.targetId;
  else if (g.targetType === 'domain') r.domainId = g.targetId;
  else r.system = true;
  return r;
}

export async function listAssignments(q: Queryable, f: AssignmentQuery): Promise<AssignmentRef[]> {
  const grants = (await q.all('SELECT * FROM identity_assignments ORDER BY type, actor_id, target_id, role_id')).map(rowToGrant);
  let refs: AssignmentRef[];
  if (!f.effective) {
    refs = grants.map(refOf);
  } else {
    refs = [];
    const members = new Map<string, string[]>();
    const membersOf = async (g: string) => {
      if (!members.has(g)) members.set(g, await memberIds(q, g));
      return members.get(g)!;
    };
    const projectsCache = new Map<string, Project[]>();
    for (const g of grants) {
      // 1. Group assignments become one per member.
      const base = refOf(g);
      const actors: AssignmentRef[] = g.actorType === 'group'
        ? (await membersOf(g.actorId)).map((u) => ({ ...base, groupId: undefined, userId: u, indirect: { groupId: g.actorId } }))
        : [base];
      // 2. Inherited assignments become one per project below the target.
      for (const a of actors) {
        if (!g.inherited) { refs.push(a); continue; }
        const key = `${g.targetType}:${g.targetId}`;
        if (!projectsCache.has(key)) {
          projectsCache.set(key, g.targetType === 'domain' ? await listProjects(q, { domainId: g.targetId }) : await descendants(q, g.targetId));
        }
        for (const p of projectsCache.get(key)!) {
          refs.push({
            ...a, domainId: undefined, projectId: p.id,
            indirect: { ...a.indirect, ...(g.targetType === 'domain' ? { domainId: g.targetId } : { projectId: g.targetId }) },
          });
        }
      }
    }
    // 3. Implied roles are added as assignments of their own.
    const implications = await listImplications(q);
    const implied = new Map<string, string[]>();
    for (const i of implications) implied.set(i.prior, [...(implied.get(i.prior) ?? []), i.implied]);
    const todo = [...refs];
    while (todo.length) {
      const r = todo.pop()!;
      for (const j of implied.get(r.roleId) ?? []) {
        const copy: AssignmentRef = { ...r, roleId: j, indirect: { ...r.indirect, roleId: r.roleId } };
        refs.push(copy);
        todo.push(copy);
      }
    }
    // Domain-specific roles are not effective by themselves.
    const domainRoles = new Set((await q.all<{ id: string }>("SELECT id FROM identity_roles WHERE domain_id <> '<<null>>'")).map((r) => r.id));
    if (domainRoles.size) refs = refs.filter((r) => !domainRoles.has(r.roleId));
  }
  let projectIds: Set<string> | undefined;
  if (f.projectId) {
    projectIds = new Set([f.projectId]);
    if (f.includeSubtree) for (const d of await descendants(q, f.projectId)) projectIds.add(d.id);
  }
  return refs.filter((r) =>
    (f.userId === undefined || r.userId === f.userId)
    && (f.groupId === undefined || r.groupId === f.groupId)
    && (f.roleId === undefined || r.roleId === f.roleId)
    && (!projectIds || (r.projectId !== undefined && projectIds.has(r.projectId)))
    && (f.domainId === undefined || r.domainId === f.domainId)
    && (!f.system || r.system === true)
    && (f.inherited === undefined || r.inherited === f.inherited));
}
