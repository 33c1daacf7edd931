// /v3/domains
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Keystone, notFound } from '../keystone.ts';
import { member, name64, description, type Schema } from '../validate.ts';
import { getDomain, listDomains, createDomain, updateDomain, deleteDomain, domainView } from '../domains.ts';
import { enabledFilter, query, collection } from './common.ts';
import { cleanOptions } from './projects.ts';

const options: Schema = { type: 'object', properties: { immutable: { type: ['boolean', 'null'] } }, additionalProperties: false };
const DOMAIN_PROPS: Record<string, Schema> = {
  name: { ...name64, pattern: '\\S' }, description, enabled: { type: 'boolean' }, options,
  explicit_domain_id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-]+$' },
  tags: { type: 'array', items: { type: 'string' }, maxItems: 0 },
};
const KNOWN = new Set([...Object.keys(DOMAIN_PROPS), 'id', 'links']);
const extraOf = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !KNOWN.has(k)));

export async function domainRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };

  app.get('/domains', authed, async (req) => {
    const q = query(req);
    const a = req.auth!;
    ks.enforce(req, 'identity:list_domains', { domain: { id: a.domainId ?? null } });
    let ds = await listDomains(ks.db, { name: q.name, enabled: enabledFilter(q.enabled) });
    // As Keystone: a domain-scoped caller sees its own domain only.
    if (a.domainId) ds = ds.filter((d) => d.id === a.domainId);
    return collection(ks, req, 'domains', ds.map((d) => domainView(ks, d)));
  });

  app.post('/domains', authed, async (req, reply) => {
    ks.enforce(req, 'identity:create_domain');
    const f = member(req.body, 'domain', { required: ['name'], properties: DOMAIN_PROPS });
    const d = await ks.db.tx((tx) => createDomain(tx, {
      id: f.explicit_domain_id, name: f.name, description: f.description, enabled: f.enabled,
      extra: extraOf(f), options: cleanOptions(f.options),
    }));
    reply.code(201);
    return { domain: domainView(ks, d) };
  });

  const load = async (req: FastifyRequest, rule: string) => {
    const { id } = req.params as { id: string };
    const d = await getDomain(ks.db, id);
    ks.enforce(req, rule, { domain: { id } });
    if (!d) throw notFound('domain', id);
    return d;
  };

  app.get('/domains/:id', authed, async (req) => {
    const d = await load(req, 'identity:get_domain');
    return { domain: domainView(ks, d) };
  });

  app.patch('/domains/:id', authed, async (req) => {
    const d = await load(req, 'identity:update_domain');
    const f = member(req.body, 'domain', { minProperties: 1, properties: DOMAIN_PROPS });
    const next = await ks.db.tx((tx) => updateDomain(ks, tx, d.id, {
      name: f.name, description: f.description, enabled: f.enabled, extra: extraOf(f), options: f.options,
    }));
    return { domain: domainView(ks, next) };
  });

  app.delete('/domains/:id', authed, async (req, reply) => {
    const d = await load(req, 'identity:delete_domain');
    await ks.db.tx((tx) => deleteDomain(ks, tx, d.id));
    reply.code(204).send();
  });
}
