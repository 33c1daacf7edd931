// Nova v2.1 at /compute: version discovery at /compute and /compute/v2.1, microversion
// negotiation for every versioned request, Nova's error format ({"itemNotFound": {...}}), and
// the API parts (servers, flavors, keypairs, quotas ...) each in its own file.
import type { FastifyInstance } from 'fastify';
import type { Context, ServiceModule } from '../core/service.ts';
import type { Migration } from '../core/db/migrate.ts';
import { useErrorFormat } from '../core/http.ts';
import { requireToken } from '../core/auth.ts';
import { negotiate, mv } from './microversion.ts';
import { NOVA_POLICY } from './policy.ts';
import { PARTS } from './parts.ts';

/** A slice of the compute API: its tables, task handlers and routes under /compute/v2.1. */
export interface ComputePart {
  migrations: Migration[];
  init?(ctx: Context): Promise<void>;
  /** Routes relative to /compute/v2.1 (and /compute/v2.1/{project_id}); requests are authenticated. */
  routes(app: FastifyInstance, ctx: Context): Promise<void>;
  /** Unauthenticated routes relative to /compute (version discovery). */
  publicRoutes?(app: FastifyInstance, ctx: Context): Promise<void>;
  seed?(ctx: Context): Promise<void>;
  start?(ctx: Context): Promise<void>;
  stop?(ctx?: Context): Promise<void>;
}

const FAULT_NAMES: Record<number, string> = {
  400: 'badRequest', 401: 'unauthorized', 403: 'forbidden', 404: 'itemNotFound', 405: 'badMethod',
  406: 'notAcceptable', 409: 'conflictingRequest', 413: 'overLimit', 415: 'badMediaType', 429: 'overLimit',
  501: 'notImplemented', 503: 'serviceUnavailable',
};

export const compute: ServiceModule = {
  name: 'compute',
  prefix: '/compute',
  migrations: PARTS.flatMap((p) => p.migrations),
  policy: NOVA_POLICY,
  catalog: [{ type: 'compute', name: 'nova', path: '/compute/v2.1' }],
  async init(ctx) { for (const p of PARTS) await p.init?.(ctx); },
  async seed(ctx) { for (const p of PARTS) await p.seed?.(ctx); },
  async start(ctx) { for (const p of PARTS) await p.start?.(ctx); },
  async stop(ctx) { for (const p of [...PARTS].reverse()) await p.stop?.(ctx); },
  async routes(app, ctx) {
    useErrorFormat(app, ctx, (e) => {
      if (e.status === 401) return { body: { error: { code: 401, title: 'Unauthorized', message: e.message } } };
      const name = e.extra.name ?? FAULT_NAMES[e.status] ?? 'computeFault';
      return { body: { [name]: { code: e.status, message: e.message } } };
    });
    for (const p of PARTS) await p.publicRoutes?.(app, ctx);
    const versioned = async (scope: FastifyInstance) => {
      scope.addHook('onRequest', async (req, reply) => {
        // Nova answers with its own request-id header too; instance actions record it.
        reply.header('x-compute-request-id', req.id);
        req.microversion = negotiate(req);
        const v = mv(req).toString();
        reply.header('OpenStack-API-Version', `compute ${v}`);
        reply.header('X-OpenStack-Nova-API-Version', v);
        reply.header('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
        // Nova also names the request id with its legacy header (clients such as Tempest read it).
        reply.header('x-compute-request-id', req.id);
      });
      scope.addHook('preHandler', requireToken(ctx.tokens));
      for (const p of PARTS) await p.routes(scope, ctx);
    };
    // Both URL forms are in use: /v2.1/... and the legacy /v2.1/{project_id}/...
    await app.register(versioned, { prefix: '/v2.1' });
    await app.register(versioned, { prefix: '/v2.1/:project_id' });
  },
};
