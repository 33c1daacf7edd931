// Cinder's clusters API (microversion 3.7, admin): clustered cinder-volume services that share
// their work. This cloud runs one volume service that is in no cluster (its cluster_name is
// null), so the lists are empty and a named cluster is not found — what Cinder answers for a
// deployment without clusters. Filters are still checked as Cinder checks them.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { invalidInput, parseBool, queryParams } from './common.ts';
import { atLeast, requireVersion } from './microversion.ts';

export const CLUSTER_POLICY: Record<string, string> = {
  'clusters:get_all': 'rule:context_is_admin',
  'clusters:get': 'rule:context_is_admin',
  'clusters:update': 'rule:context_is_admin',
};

const LIST_KEYS = ['name', 'binary', 'is_up', 'disabled', 'num_hosts', 'num_down_hosts'];

/** Python's str() of the lookup filters, as Cinder's ClusterNotFound shows them. */
const notFound = (name: string, binary: string) => new ApiError(404, `Cluster {'binary': '${binary}', 'name': '${name}'} could not be found.`);

function list(ctx: Context, req: FastifyRequest) {
  requireVersion(req, '3.7');
  ctx.policy.authorize('clusters:get_all', req.auth!, {});
  const q = queryParams(req);
  // 3.26 added the replication filters (and fields, which an empty list does not show).
  const keys = atLeast(req, '3.26') ? [...LIST_KEYS, 'replication_status', 'frozen', 'active_backend_id'] : LIST_KEYS;
  const invalid = Object.keys(q).filter((k) => !keys.includes(k));
  if (invalid.length) throw invalidInput(`Invalid filter keys: ${invalid.join(', ')}`);
  for (const k of ['disabled', 'is_up']) if (q[k] !== undefined) parseBool(q[k], k);
  // The volume service is in no cluster: there is none to list.
  return { clusters: [] };
}

function body(req: FastifyRequest, keys: string[]): { name: string; binary: string } {
  const b = req.body as Record<string, unknown> | null | undefined;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw badRequest("Invalid input for field/attribute body. Value: None. None is not of type 'object'");
  for (const k of Object.keys(b)) if (!keys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
  if (!('name' in b)) throw badRequest("Invalid input for field/attribute name. 'name' is a required property");
  if (typeof b.name !== 'string' || !b.name.trim() || b.name.length > 255) throw badRequest(`Invalid input for field/attribute name. Value: ${JSON.stringify(b.name)}. Name must be a non-empty string of at most 255 characters.`);
  if (b.binary !== undefined && b.binary !== null && typeof b.binary !== 'string') throw badRequest(`Invalid input for field/attribute binary. Value: ${JSON.stringify(b.binary)}. ${JSON.stringify(b.binary)} is not of type 'string', 'null'`);
  if (b.disabled_reason !== undefined && b.disabled_reason !== null && (typeof b.disabled_reason !== 'string' || b.disabled_reason.length > 255)) {
    throw badRequest('Disabled reason contains invalid characters or is too long');
  }
  return { name: b.name, binary: (b.binary as string | null | undefined) ?? 'cinder-volume' };
}

export async function clusterRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/clusters', async (req) => list(ctx, req));
  app.get('/clusters/detail', async (req) => list(ctx, req));
  app.get<{ Params: { name: string } }>('/clusters/:name', async (req) => {
    requireVersion(req, '3.7');
    ctx.policy.authorize('clusters:get', req.auth!, {});
    throw notFound(req.params.name, queryParams(req).binary ?? 'cinder-volume');
  });
  for (const action of ['enable', 'disable'] as const) {
    app.put(`/clusters/${action}`, async (req) => {
      requireVersion(req, '3.7');
      const { name, binary } = body(req, action === 'enable' ? ['name', 'binary'] : ['name', 'binary', 'disabled_reason']);
      ctx.policy.authorize('clusters:update', req.auth!, {});
      throw notFound(name, binary);
    });
  }
}
