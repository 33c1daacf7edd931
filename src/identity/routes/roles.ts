// /v3/roles (global and domain-specific), implied roles and /v3/role_inferences.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { type Keystone, notFound } from '../keystone.ts';
import { member, name255, description, idOrNull, type Schema } from '../validate.ts';
import {
  getRole, listRoles, createRole, updateRole, deleteRole, roleView, roleRefView, listImplications, createImplication, type Role,
} from '../roles.ts';
import { requireDomain } from '../domains.ts';
import { query, collection } from './common.ts';
import { cleanOptions } from './projects.ts';

const options: Schema = { type: 'object', properties: { immutable: { type: ['boolean', 'null'] } }, additionalProperties: false };
const ROLE_PROPS: Record<string, Schema> = { name: { ...name255, pattern: '\\S' }, description, domain_id: idOrNull, options };
const KNOWN = new Set([...Object.keys(ROLE_PROPS), 'id', 'links']);
const extraOf = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !KNOWN.has(k)));

export const roleTarget = (r: Role | null) => (r ? { role: { id: r.id, name: r.name, domain_id: r.domainId } } : {});
/** Domain-specific roles have their own rules (identity:get_domain_role ...). */
const ruleFor = (base: string, r: { domainId: string | null } | null) => (r?.domainId ? `identity:${base}_domain_role` : `identity:${base}_role`);

export async function roleRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };
  const roleOf = async (req: FastifyRequest, base: string) => {
    const id = (req.params as { role_id: string }).role_id;
    const r = await getRole(ks.db, id);
    ks.enforce(req, ruleFor(base, r), roleTarget(r));
    if (!r) throw notFound('role', id);
    return r;
  };

  app.get('/roles', authed, async (req) => {
    const q = query(req);
    ks.enforce(req, q.domain_id ? 'identity:list_domain_roles' : 'identity:list_roles', { domain_id: q.domain_id ?? null });
    const rs = await listRoles(ks.db, { name: q.name, domainId: q.domain_id ?? null });
    return collection(ks, req, 'roles', rs.map((r) => roleView(ks, r)));
  });

  app.post('/roles', authed, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, any>;
    const raw = body && typeof body.role === 'object' && body.role && !Array.isArray(body.role) ? body.role : {};
    ks.enforce(req, raw.domain_id ? 'identity:create_domain_role' : 'identity:create_role', { role: raw });
    const f = member(req.body, 'role', { required: ['name'], properties: ROLE_PROPS });
    const r = await ks.db.tx(async (tx) => {
      if (f.domain_id) await requireDomain(tx, f.domain_id);
      return createRole(tx, { name: f.name, domainId: f.domain_id ?? null, description: f.description, options: cleanOptions(f.options), extra: extraOf(f) });
    });
    reply.code(201);
    return { role: roleView(ks, r) };
  });

  app.get('/roles/:role_id', authed, async (req) => ({ role: roleView(ks, await roleOf(req, 'get')) }));

  app.patch('/roles/:role_id', authed, async (req) => {
    const r = await roleOf(req, 'update');
    const f = member(req.body, 'role', { minProperties: 1, properties: ROLE_PROPS });
    if ('domain_id' in f && f.domain_id !== r.domainId) throw new ApiError(400, 'Update of `domain_id` is not allowed.');
    const next = await ks.db.tx((tx) => updateRole(tx, r.id, { name: f.name, description: f.description, options: f.options, extra: extraOf(f) }));
    return { role: roleView(ks, next) };
  });

  app.delete('/roles/:role_id', authed, async (req, reply) => {
    const r = await roleOf(req, 'delete');
    await ks.db.tx((tx) => deleteRole(ks, tx, r.id));
    reply.code(204).send();
  });

  // Implied roles
  const pair = async (req: FastifyRequest, rule: string) => {
    const { prior_role_id, implied_role_id } = req.params as { prior_role_id: string; implied_role_id: string };
    ks.enforce(req, rule);
    const prior = await getRole(ks.db, prior_role_id);
    if (!prior) throw notFound('role', prior_role_id);
    const implied = await getRole(ks.db, implied_role_id);
    if (!implied) throw notFound('role', implied_role_id);
    return { prior, implied };
  };
  const inferenceBody = (prior: Role, implied: Role) => ({
    role_inference: { prior_role: roleRefView(ks, prior), implies: roleRefView(ks, implied) },
    links: { self: `${ks.v3}/roles/${prior.id}/implies/${implied.id}` },
  });
  const requireImplication = async (prior: Role, implied: Role) => {
    const row = await ks.db.get('SELECT 1 AS x FROM identity_implied_roles WHERE prior_role_id = ? AND implied_role_id = ?', [prior.id, implied.id]);
    if (!row) throw new ApiError(404, `${prior.id} does not imply ${implied.id}.`);
  };

  app.put('/roles/:prior_role_id/implies/:implied_role_id', authed, async (req, reply) => {
    const { prior, implied } = await pair(req, 'identity:create_implied_role');
    await ks.db.tx((tx) => createImplication(tx, prior, implied));
    reply.code(201);
    return inferenceBody(prior, implied);
  });
  app.get('/roles/:prior_role_id/implies/:implied_role_id', { ...authed, exposeHeadRoute: false }, async (req) => {
    const { prior, implied } = await pair(req, 'identity:get_implied_role');
    await requireImplication(prior, implied);
    return inferenceBody(prior, implied);
  });
  app.head('/roles/:prior_role_id/implies/:implied_role_id', authed, async (req, reply) => {
    const { prior, implied } = await pair(req, 'identity:check_implied_role');
    await requireImplication(prior, implied);
    reply.code(204).send();
  });
  app.delete('/roles/:prior_role_id/implies/:implied_role_id', authed, async (req, reply) => {
    const { prior, implied } = await pair(req, 'identity:delete_implied_role');
    await ks.db.tx(async (tx) => {
      const { changes } = await tx.run('DELETE FROM identity_implied_roles WHERE prior_role_id = ? AND implied_role_id = ?', [prior.id, implied.id]);
      if (!changes) throw new ApiError(404, `${prior.id} does not imply ${implied.id}.`);
      // Tokens holding the prior role also hold what it implied.
      await ks.revocations.revoke(tx, { role_id: prior.id });
    });
    reply.code(204).send();
  });

  app.get('/roles/:prior_role_id/implies', authed, async (req) => {
    const { prior_role_id } = req.params as { prior_role_id: string };
    ks.enforce(req, 'identity:list_implied_roles');
    const prior = await getRole(ks.db, prior_role_id);
    if (!prior) throw notFound('role', prior_role_id);
    const ids = (await listImplications(ks.db)).filter((i) => i.prior === prior.id).map((i) => i.implied);
    const implied = await listRoles(ks.db, { ids });
    return {
      role_inference: { prior_role: roleRefView(ks, prior), implies: implied.map((r) => roleRefView(ks, r)) },
      links: { self: `${ks.v3}/roles/${prior.id}/implies` },
    };
  });

  app.get('/role_inferences', authed, async (req) => {
    ks.enforce(req, 'identity:list_role_inference_rules');
    const all = await listImplications(ks.db);
    const roles = new Map((await listRoles(ks.db, { ids: [...new Set(all.flatMap((i) => [i.prior, i.implied]))] })).map((r) => [r.id, r]));
    const byPrior = new Map<string, string[]>();
    for (const i of all) byPrior.set(i.prior, [...(byPrior.get(i.prior) ?? []), i.implied]);
    return {
      role_inferences: [...byPrior].map(([p, is]) => ({
        prior_role: roleRefView(ks, roles.get(p)!),
        implies: is.map((i) => roleRefView(ks, roles.get(i)!)),
      })),
      links: { self: `${ks.v3}/role_inferences` },
    };
  });
}
