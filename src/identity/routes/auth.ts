// /v3/auth/*: issuing (POST), validating (GET/HEAD with X-Subject-Token) and revoking (DELETE)
// tokens, and what a token may be scoped to (auth/projects, auth/domains, auth/system) and its
// catalog (auth/catalog).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import type { Keystone } from '../keystone.ts';
import { authenticate } from '../auth.ts';
import { isotime, TokenError, type TokenPayload } from '../tokens.ts';
import { effectiveRoleIds, projectIdsForUser, domainIdsForUser } from '../assignments.ts';
import { listProjects, projectView } from '../projects.ts';
import { listDomains, domainView } from '../domains.ts';
import { boolQuery } from './common.ts';

/** Keystone's token response (keystone/common/render_token.py). */
export async function tokenBody(ks: Keystone, p: TokenPayload, includeCatalog: boolean) {
  const t: Record<string, unknown> = {
    methods: p.methods,
    user: { domain: { id: p.userDomainId, name: p.userDomainName }, id: p.userId, name: p.userName, password_expires_at: null },
    audit_ids: p.auditIds,
    expires_at: isotime(p.expiresAt),
    issued_at: isotime(p.issuedAt),
  };
  const roles = p.roles.map((r) => ({ id: r.id, name: r.name }));
  if (p.system) {
    t.roles = roles;
    t.system = { all: true };
  } else if (p.domain) {
    t.domain = { id: p.domain.id, name: p.domain.name };
    t.roles = roles;
  } else if (p.project) {
    t.project = { domain: { id: p.project.domainId, name: p.project.domainName }, id: p.project.id, name: p.project.name };
    t.is_domain = false;
    t.roles = roles;
    t.is_admin_project = p.isAdminProject;
  }
  if (includeCatalog && (p.system || p.domain || p.project)) t.catalog = await ks.catalog.forToken(p.userId, p.project?.id);
  if (p.appCred) t.application_credential = { id: p.appCred.id, name: p.appCred.name, restricted: p.appCred.restricted };
  return { token: t };
}

function subjectToken(req: FastifyRequest): string {
  const s = req.headers['x-subject-token'];
  if (typeof s !== 'string' || !s) throw new ApiError(404, 'Could not find token: (no X-Subject-Token header).');
  return s;
}

export async function authRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };

  app.post('/auth/tokens', async (req, reply) => {
    const payload = await authenticate(ks, req.body);
    const token = ks.tokens.issue(payload);
    const q = req.query as Record<string, string>;
    reply.code(201).header('X-Subject-Token', token);
    return tokenBody(ks, payload, !('nocatalog' in q));
  });

  const validate = async (req: FastifyRequest, rule: string) => {
    const subject = subjectToken(req);
    const q = req.query as Record<string, string>;
    let payload: TokenPayload;
    try {
      payload = ks.tokens.check(subject, { allowExpired: boolQuery(q.allow_expired) }).payload;
    } catch (e) {
      if (e instanceof TokenError) throw new ApiError(404, `Could not find token: ${subject}.`);
      throw e;
    }
    ks.enforce(req, rule, { token: { user_id: payload.userId } });
    return { subject, payload };
  };

  app.get('/auth/tokens', { ...authed, exposeHeadRoute: false }, async (req, reply) => {
    const { subject, payload } = await validate(req, 'identity:validate_token');
    reply.header('X-Subject-Token', subject);
    return tokenBody(ks, payload, !('nocatalog' in (req.query as object)));
  });

  app.head('/auth/tokens', authed, async (req, reply) => {
    const { subject } = await validate(req, 'identity:check_token');
    reply.header('X-Subject-Token', subject).code(200).send();
  });

  app.delete('/auth/tokens', authed, async (req, reply) => {
    const { payload } = await validate(req, 'identity:revoke_token');
    await ks.db.tx((tx) => ks.revocations.revoke(tx, { audit_id: payload.auditIds[0] }));
    reply.code(204).send();
  });

  app.get('/auth/tokens/OS-PKI/revoked', authed, async () => {
    throw new ApiError(403, 'You are not authorized to perform the requested action.');
  });

  app.get('/auth/catalog', authed, async (req) => {
    ks.enforce(req, 'identity:get_auth_catalog');
    const a = req.auth!;
    if (!a.projectId) throw new ApiError(403, 'A project-scoped token is required to produce a service catalog.');
    return { catalog: await ks.catalog.forToken(a.userId, a.projectId), links: { self: `${ks.v3}/auth/catalog` } };
  });

  app.get('/auth/projects', authed, async (req) => {
    ks.enforce(req, 'identity:get_auth_projects');
    const ids = await projectIdsForUser(ks.db, req.auth!.userId);
    const projects = (await listProjects(ks.db, { ids, enabled: true }));
    return { projects: projects.map((p) => projectView(ks, p)), links: { self: `${ks.v3}/auth/projects`, previous: null, next: null } };
  });

  app.get('/auth/domains', authed, async (req) => {
    ks.enforce(req, 'identity:get_auth_domains');
    const ids = await domainIdsForUser(ks.db, req.auth!.userId);
    const domains = await listDomains(ks.db, { ids, enabled: true });
    return { domains: domains.map((d) => domainView(ks, d)), links: { self: `${ks.v3}/auth/domains`, previous: null, next: null } };
  });

  app.get('/auth/system', authed, async (req) => {
    ks.enforce(req, 'identity:get_auth_system');
    const roles = await effectiveRoleIds(ks.db, req.auth!.userId, { system: true });
    return { system: roles.size ? [{ all: true }] : [], links: { self: `${ks.v3}/auth/system` } };
  });
}
