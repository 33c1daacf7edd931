// Role grants on projects, domains and the system for users and groups (plus the OS-INHERIT
// inherited_to_projects forms), and GET /v3/role_assignments.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { type Keystone, notFound, SYSTEM_TARGET } from '../keystone.ts';
import { getRole, listRoles, roleView, type Role } from '../roles.ts';
import { getUser, listUsers } from '../users.ts';
import { getGroup } from '../groups.ts';
import { getProject, listProjects, type Project } from '../projects.ts';
import { getDomain, listDomains, type Domain } from '../domains.ts';
import {
  createGrant, checkGrant, deleteGrant, listGrantRoleIds, listAssignments, type ActorType, type TargetType, type Grant, type AssignmentRef,
} from '../assignments.ts';
import { boolQuery, query } from './common.ts';
import { userTarget } from './users.ts';
import { groupTarget } from './groups.ts';
import { roleTarget } from './roles.ts';
import { projectTarget } from './projects.ts';

interface Resolved { actorId: string; targetId: string; role?: Role; target: Record<string, unknown> }

export async function assignmentRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };

  /** Loads what the URL names, checks the policy with it, then reports what is missing (404). */
  async function resolve(req: FastifyRequest, rule: string, actorType: ActorType, targetType: TargetType, withRole: boolean): Promise<Resolved> {
    const p = req.params as Record<string, string>;
    const actorId = actorType === 'user' ? p.user_id : p.group_id;
    const targetId = targetType === 'system' ? SYSTEM_TARGET : targetType === 'project' ? p.project_id : p.domain_id;
    const [actor, proj, dom, role] = await Promise.all([
      actorType === 'user' ? getUser(ks.db, actorId) : getGroup(ks.db, actorId),
      targetType === 'project' ? getProject(ks.db, targetId) : null,
      targetType === 'domain' ? getDomain(ks.db, targetId) : null,
      withRole ? getRole(ks.db, p.role_id) : null,
    ]);
    const target: Record<string, unknown> = {
      ...(actorType === 'user' ? userTarget(actor as Awaited<ReturnType<typeof getUser>>) : groupTarget(actor as Awaited<ReturnType<typeof getGroup>>)),
      ...(proj ? projectTarget(proj) : {}),
      ...(dom ? { domain: { id: dom.id } } : {}),
      ...roleTarget(role),
    };
    ks.enforce(req, rule, target);
    if (withRole && !role) throw notFound('role', p.role_id);
    if (targetType === 'project' && !proj) throw notFound('project', targetId);
    if (targetType === 'domain' && !dom) throw notFound('domain', targetId);
    if (!actor) throw notFound(actorType, actorId);
    if (role?.domainId) {
      const targetDomain = proj?.domainId ?? dom?.id;
      if (targetDomain !== role.domainId) {
        throw new ApiError(403, `${targetType === 'project' ? 'Project' : 'Domain'} ${targetId} must be in the same domain as the role ${role.id} being assigned.`);
      }
    }
    return { actorId, targetId, role: role ?? undefined, target };
  }

  const rules = (targetType: TargetType, actorType: ActorType) => targetType === 'system'
    ? {
      create: `identity:create_system_grant_for_${actorType}`, check: `identity:check_system_grant_for_${actorType}`,
      revoke: `identity:revoke_system_grant_for_${actorType}`, list: `identity:list_system_grants_for_${actorType}`,
    }
    : { create: 'identity:create_grant', check: 'identity:check_grant', revoke: 'identity:revoke_grant', list: 'identity:list_grants' };

  function grantRoutes(base: string, actorType: ActorType, targetType: TargetType, inherited: boolean) {
    const suffix = inherited ? '/inherited_to_projects' : '';
    const one = `${base}/roles/:role_id${suffix}`;
    const r = rules(targetType, actorType);
    const grantOf = (x: Resolved): Grant => ({ actorType, actorId: x.actorId, targetType, targetId: x.targetId, roleId: x.role!.id, inherited });

    app.put(one, authed, async (req, reply) => {
      const x = await resolve(req, r.create, actorType, targetType, true);
      await ks.db.tx((tx) => createGrant(tx, grantOf(x)));
      reply.code(204).send();
    });
    const checkOne = async (req: FastifyRequest) => {
      const x = await resolve(req, r.check, actorType, targetType, true);
      if (!(await checkGrant(ks.db, grantOf(x)))) {
        throw new ApiError(404, `Could not find role assignment with role: ${x.role!.id}, ${actorType}: ${x.actorId}, ${targetType}: ${x.targetId}.`);
      }
    };
    app.get(one, { ...authed, exposeHeadRoute: false }, async (req, reply) => { await checkOne(req); reply.code(204).send(); });
    app.head(one, authed, async (req, reply) => { await checkOne(req); reply.code(204).send(); });
    app.delete(one, authed, async (req, reply) => {
      const x = await resolve(req, r.revoke, actorType, targetType, true);
      const removed = await ks.db.tx((tx) => deleteGrant(ks, tx, grantOf(x)));
      if (!removed) {
        throw new ApiError(404, `Could not find role assignment with role: ${x.role!.id}, ${actorType}: ${x.actorId}, ${targetType}: ${x.targetId}.`);
      }
      reply.code(204).send();
    });
    app.get(`${base}/roles${suffix}`, authed, async (req) => {
      const x = await resolve(req, r.list, actorType, targetType, false);
      const ids = await listGrantRoleIds(ks.db, actorType, x.actorId, targetType, x.targetId, inherited);
      const roles = await listRoles(ks.db, { ids });
      const path = req.url.split('?')[0].replace(/^\/identity\/v3/, '');
      return { roles: roles.map((ro) => roleView(ks, ro)), links: { self: `${ks.v3}${path}`, previous: null, next: null } };
    });
  }

  for (const actor of ['user', 'group'] as const) {
    const a = actor === 'user' ? 'users/:user_id' : 'groups/:group_id';
    grantRoutes(`/projects/:project_id/${a}`, actor, 'project', false);
    grantRoutes(`/domains/:domain_id/${a}`, actor, 'domain', false);
    grantRoutes(`/system/${a}`, actor, 'system', false);
    grantRoutes(`/OS-INHERIT/domains/:domain_id/${a}`, actor, 'domain', true);
    grantRoutes(`/OS-INHERIT/projects/:project_id/${a}`, actor, 'project', true);
  }

  app.get('/role_assignments', authed, async (req) => {
    const q = query(req);
    const a = req.auth!;
    const subtree = boolQuery(q.include_subtree);
    const effective = boolQuery(q.effective);
    if (subtree) {
      const p = q['scope.project.id'] ? await getProject(ks.db, q['scope.project.id']) : null;
      ks.enforce(req, 'identity:list_role_assignments_for_tree', p ? { ...projectTarget(p), domain_id: p.domainId } : {});
      if (!q['scope.project.id']) throw new ApiError(400, 'scope.project.id must be specified if include_subtree is also specified');
      if (!p) throw notFound('project', q['scope.project.id']);
    } else {
      ks.enforce(req, 'identity:list_role_assignments', { domain_id: a.domainId ?? null });
    }
    if (q['scope.domain.id'] && q['scope.project.id']) throw new ApiError(400, 'Specify a domain or project, not both');
    if (q['scope.domain.id'] && q['scope.system']) throw new ApiError(400, 'Specify system or domain, not both');
    if (q['scope.project.id'] && q['scope.system']) throw new ApiError(400, 'Specify system or project, not both');
    if (q['user.id'] && q['group.id']) throw new ApiError(400, 'Specify a user or group, not both');
    const inheritedTo = q['scope.OS-INHERIT:inherited_to'];
    const inherited = inheritedTo === undefined ? undefined : inheritedTo === 'projects';
    if (effective && q['group.id']) throw new ApiError(400, 'Combining effective and group filter will always result in an empty list.');
    if (effective && inherited && q['scope.domain.id']) throw new ApiError(400, 'Combining effective, domain and inherited filters will always result in an empty list.');
    if (q['scope.system'] !== undefined && q['scope.system'] !== 'all') throw new ApiError(400, "Invalid input for field 'scope.system': only 'all' is a valid system scope");

    let refs = await listAssignments(ks.db, {
      userId: q['user.id'], groupId: q['group.id'], roleId: q['role.id'], projectId: q['scope.project.id'],
      domainId: q['scope.domain.id'], system: q['scope.system'] === 'all', inherited, effective, includeSubtree: subtree,
    });
    if (a.domainId) {
      // A domain-scoped caller sees assignments on its domain and its projects only.
      const mine = new Set((await listProjects(ks.db, { domainId: a.domainId })).map((p) => p.id));
      refs = refs.filter((r) => r.domainId === a.domainId || (r.projectId && mine.has(r.projectId)));
    }
    const names = boolQuery(q.include_names) ? await nameIndex(refs) : undefined;
    return {
      role_assignments: refs.map((r) => formatAssignment(ks, r, names)),
      links: { self: `${ks.v3}${req.url.replace(/^\/identity\/v3/, '')}`, previous: null, next: null },
    };
  });

  async function nameIndex(refs: AssignmentRef[]) {
    const uniq = (xs: Array<string | undefined>) => [...new Set(xs.filter((x): x is string => !!x))];
    const [roles, users, groups, projects] = await Promise.all([
      listRoles(ks.db, { ids: uniq(refs.map((r) => r.roleId)) }),
      listUsers(ks.db, { ids: uniq(refs.map((r) => r.userId)) }),
      Promise.all(uniq(refs.map((r) => r.groupId)).map((id) => getGroup(ks.db, id))),
      listProjects(ks.db, { ids: uniq(refs.map((r) => r.projectId)) }),
    ]);
    const domains = new Map((await listDomains(ks.db)).map((d) => [d.id, d]));
    return {
      roles: new Map(roles.map((r) => [r.id, r])),
      users: new Map(users.map((u) => [u.id, u])),
      groups: new Map(groups.filter((g) => g !== null).map((g) => [g!.id, g!])),
      projects: new Map(projects.map((p) => [p.id, p])),
      domains,
    };
  }
}

type Names = {
  roles: Map<string, Role>; users: Map<string, { name: string; domainId: string }>; groups: Map<string, { name: string; domainId: string }>;
  projects: Map<string, Project>; domains: Map<string, Domain>;
};

/** Keystone's role assignment entity (keystone/api/role_assignments.py _format_entity). */
export function formatAssignment(ks: Keystone, r: AssignmentRef, n?: Names) {
  const out: Record<string, any> = { links: {} };
  let link = '';
  let inherited = r.inherited;
  const dom = (id: string) => ({ id, name: n?.domains.get(id)?.name ?? '' });
  if (r.projectId) {
    const p = n?.projects.get(r.projectId);
    out.scope = { project: n ? { id: r.projectId, name: p?.name ?? '', domain: dom(p?.domainId ?? '') } : { id: r.projectId } };
    if (r.indirect?.domainId) { inherited = true; link = `/domains/${r.indirect.domainId}`; }
    else if (r.indirect?.projectId) { inherited = true; link = `/projects/${r.indirect.projectId}`; }
    else link = `/projects/${r.projectId}`;
  } else if (r.domainId) {
    out.scope = { domain: n ? dom(r.domainId) : { id: r.domainId } };
    link = `/domains/${r.domainId}`;
  } else {
    out.scope = { system: { all: true } };
    link = '/system';
  }
  if (r.userId) {
    const u = n?.users.get(r.userId);
    out.user = n ? { id: r.userId, name: u?.name ?? '', domain: dom(u?.domainId ?? '') } : { id: r.userId };
    if (r.indirect?.groupId) {
      out.links.membership = `${ks.v3}/groups/${r.indirect.groupId}/users/${r.userId}`;
      link += `/groups/${r.indirect.groupId}`;
    } else link += `/users/${r.userId}`;
  } else if (r.groupId) {
    const g = n?.groups.get(r.groupId);
    out.group = n ? { id: r.groupId, name: g?.name ?? '', domain: dom(g?.domainId ?? '') } : { id: r.groupId };
    link += `/groups/${r.groupId}`;
  }
  const role = n?.roles.get(r.roleId);
  out.role = n ? { id: r.roleId, name: role?.name ?? '', ...(role?.domainId ? { domain: dom(role.domainId) } : {}) } : { id: r.roleId };
  if (r.indirect?.roleId) {
    link += `/roles/${r.indirect.roleId}`;
    out.links.prior_role = `${ks.v3}/prior_role/${r.roleId}/implies/${r.indirect.roleId}`;
  } else link += `/roles/${r.roleId}`;
  if (inherited) {
    out.scope['OS-INHERIT:inherited_to'] = 'projects';
    link = `/OS-INHERIT${link}/inherited_to_projects`;
  }
  out.links.assignment = `${ks.v3}${link}`;
  return out;
}
