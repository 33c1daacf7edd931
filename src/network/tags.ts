// The standard-attr-tag extension: /{resources}/{id}/tags (list, replace, add one, check one,
// remove one, remove all) on networks, subnets and ports (and every part that registers a
// resource type here). Tags are up to 255 characters, no commas (they separate tags in filters).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import { badRequest } from '../core/errors.ts';
import { nowIso } from '../core/ids.ts';
import type { NetworkPart } from './index.ts';
import { neutronError } from './common.ts';
import { findNetwork } from './networks.ts';
import { findSubnet } from './subnets.ts';
import { findPort } from './ports.ts';

type Finder = (ctx: Context, req: FastifyRequest, id: string) => Promise<Record<string, any>>;

/** Collection name → how to find one resource the caller may see (404 otherwise) and its table. */
export const TAGGABLE = new Map<string, { find: Finder; table: string }>([
  ['networks', { find: findNetwork, table: 'neutron_networks' }],
  ['subnets', { find: findSubnet, table: 'neutron_subnets' }],
  ['ports', { find: findPort, table: 'neutron_ports' }],
]);

const MAX_TAGS = 50;

function validTag(tag: unknown): string {
  if (typeof tag !== 'string' || !tag || tag.length > 255 || tag.includes(',')) throw badRequest(`Invalid input for tags. Reason: '${tag}' is not a valid tag.`);
  return tag;
}

export const tags: NetworkPart = {
  migrations: [],
  extensions: [
    { alias: 'tag', name: 'Tag support', description: 'Enables to set tag on resources.', updated: '2016-01-01T00:00:00-00:00' },
    { alias: 'standard-attr-tag', name: 'Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip', description: 'Enables to set tag on resources with standard attribute.', updated: '2017-01-01T00:00:00-00:00' },
  ],
  async routes(app: FastifyInstance, ctx: Context) {
    const target = async (req: FastifyRequest, write: boolean) => {
      const { resource, id } = req.params as { resource: string; id: string };
      const t = TAGGABLE.get(resource);
      if (!t) throw neutronError(404, 'HTTPNotFound', 'The resource could not be found.');
      const r = await t.find(ctx, req, id);
      const a = req.auth!;
      if (write && !a.roles.includes('admin') && r.project_id !== a.projectId) throw neutronError(403, 'PolicyNotAuthorized', 'Tags may be changed by the owner only.');
      ctx.policy.authorize(write ? 'update_tags' : 'get_tags', a, { project_id: r.project_id });
      return { resource, id, table: t.table };
    };
    const list = async (resource: string, id: string) => (await ctx.db.all('SELECT tag FROM neutron_tags WHERE resource_type = ? AND resource_id = ? ORDER BY tag', [resource, id])).map((r) => r.tag as string);
    const bump = (table: string, id: string) => ctx.db.run(`UPDATE ${table} SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?`, [nowIso(), id]);

    app.get('/:resource/:id/tags', async (req) => {
      const t = await target(req, false);
      return { tags: await list(t.resource, t.id) };
    });
    app.get('/:resource/:id/tags/:tag', async (req, reply) => {
      const t = await target(req, false);
      const { tag } = req.params as { tag: string };
      if (!(await list(t.resource, t.id)).includes(tag)) throw neutronError(404, 'TagNotFound', `Tag ${tag} could not be found for ${t.resource.replace(/s$/, '')} ${t.id}.`);
      reply.code(204);
    });
    app.put('/:resource/:id/tags', async (req, reply) => {
      const t = await target(req, true);
      const body = req.body as { tags?: unknown } | null;
      if (!body || !Array.isArray(body.tags)) throw badRequest("Invalid input for tags. Reason: 'tags' must be a list.");
      const next = [...new Set(body.tags.map(validTag))];
      if (next.length > MAX_TAGS) throw badRequest(`Invalid input for tags. Reason: at most ${MAX_TAGS} tags.`);
      await ctx.db.tx(async (q) => {
        await q.run('DELETE FROM neutron_tags WHERE resource_type = ? AND resource_id = ?', [t.resource, t.id]);
        for (const tag of next) await q.run('INSERT INTO neutron_tags (resource_type, resource_id, tag) VALUES (?, ?, ?)', [t.resource, t.id, tag]);
      });
      await bump(t.table, t.id);
      reply.code(200);
      return { tags: next.sort() };
    });
    app.put('/:resource/:id/tags/:tag', async (req, reply) => {
      const t = await target(req, true);
      const tag = validTag((req.params as { tag: string }).tag);
      await ctx.db.run('INSERT INTO neutron_tags (resource_type, resource_id, tag) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [t.resource, t.id, tag]);
      await bump(t.table, t.id);
      reply.code(201);
    });
    app.delete('/:resource/:id/tags', async (req, reply) => {
      const t = await target(req, true);
      await ctx.db.run('DELETE FROM neutron_tags WHERE resource_type = ? AND resource_id = ?', [t.resource, t.id]);
      await bump(t.table, t.id);
      reply.code(204);
    });
    app.delete('/:resource/:id/tags/:tag', async (req, reply) => {
      const t = await target(req, true);
      const { tag } = req.params as { tag: string };
      const r = await ctx.db.run('DELETE FROM neutron_tags WHERE resource_type = ? AND resource_id = ? AND tag = ?', [t.resource, t.id, tag]);
      if (!r.changes) throw neutronError(404, 'TagNotFound', `Tag ${tag} could not be found for ${t.resource.replace(/s$/, '')} ${t.id}.`);
      await bump(t.table, t.id);
      reply.code(204);
    });
  },
};
