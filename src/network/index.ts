// Neutron v2.0 at /networking (as DevStack serves it): version discovery, the extensions list,
// Neutron's error format ({"NeutronError": {"type", "message", "detail"}}) and the API parts
// (networks, subnets, ports, routers, security groups ...) each in its own file.
import type { FastifyInstance } from 'fastify';
import type { Context, ServiceModule } from '../core/service.ts';
import type { Migration } from '../core/db/migrate.ts';
import { useErrorFormat } from '../core/http.ts';
import { requireToken } from '../core/auth.ts';
import { ApiError, notFound } from '../core/errors.ts';
import { NEUTRON_POLICY } from './policy.ts';
import { PARTS } from './parts.ts';

/** An API extension as GET /v2.0/extensions lists it. Advertise only what works. */
export interface NetworkExtension {
  alias: string;
  name: string;
  description: string;
  updated: string;
}

/** A slice of the networking API: its tables, task handlers, extensions and routes under /v2.0. */
export interface NetworkPart {
  migrations: Migration[];
  extensions: NetworkExtension[];
  init?(ctx: Context): Promise<void>;
  /** Routes relative to /networking/v2.0; requests are authenticated (req.auth). */
  routes(app: FastifyInstance, ctx: Context): Promise<void>;
  seed?(ctx: Context): Promise<void>;
  start?(ctx: Context): Promise<void>;
  stop?(ctx?: Context): Promise<void>;
}

/** Neutron's fault type for a status when the thrower named none (ApiError's extra.name). */
const FAULT_TYPES: Record<number, string> = {
  400: 'HTTPBadRequest', 401: 'HTTPUnauthorized', 403: 'HTTPForbidden', 404: 'HTTPNotFound', 405: 'HTTPMethodNotAllowed',
  409: 'HTTPConflict', 412: 'HTTPPreconditionFailed', 413: 'HTTPRequestEntityTooLarge', 415: 'HTTPUnsupportedMediaType',
  501: 'HTTPNotImplemented', 503: 'HTTPServiceUnavailable',
};

export const EXTENSIONS = (): NetworkExtension[] => PARTS.flatMap((p) => p.extensions);

export const network: ServiceModule = {
  name: 'network',
  prefix: '/networking',
  migrations: PARTS.flatMap((p) => p.migrations),
  policy: NEUTRON_POLICY,
  catalog: [{ type: 'network', name: 'neutron', path: '/networking' }],
  async init(ctx) { for (const p of PARTS) await p.init?.(ctx); },
  async seed(ctx) { for (const p of PARTS) await p.seed?.(ctx); },
  async start(ctx) { for (const p of PARTS) await p.start?.(ctx); },
  async stop(ctx) { for (const p of [...PARTS].reverse()) await p.stop?.(ctx); },
  async routes(app, ctx) {
    useErrorFormat(app, ctx, (e) => {
      if (e.status === 401) return { body: { error: { code: 401, title: 'Unauthorized', message: e.message } } };
      return { body: { NeutronError: { type: e.extra.name ?? FAULT_TYPES[e.status] ?? 'NeutronError', message: e.message, detail: '' } } };
    });
    const root = (req: { protocol: string; headers: Record<string, unknown> }) => `${ctx.config.publicUrl}/networking`;
    const versionsDoc = (req: any) => ({
      versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `${root(req)}/v2.0/`, rel: 'self' }] }],
    });
    app.get('/', async (req) => versionsDoc(req));
    await app.register(async (v2: FastifyInstance) => {
      v2.addHook('preHandler', requireToken(ctx.tokens));
      v2.get('/', async () => ({
        resources: ['subnets', 'networks', 'ports', 'subnetpools', 'routers', 'floatingips', 'security-groups',
          'security-group-rules', 'quotas', 'rbac-policies', 'availability_zones']
          .map((c) => ({ name: c.replace(/s$/, '').replace(/-/g, '_'), collection: c, links: [{ href: `${ctx.config.publicUrl}/networking/v2.0/${c}`, rel: 'self' }] })),
      }));
      v2.get('/extensions', async () => ({ extensions: EXTENSIONS().map((x) => ({ ...x, links: [] })) }));
      v2.get('/extensions/:alias', async (req) => {
        const x = EXTENSIONS().find((e) => e.alias === (req.params as { alias: string }).alias);
        if (!x) throw notFound(`Extension with alias ${(req.params as { alias: string }).alias} does not exist`);
        return { extension: { ...x, links: [] } };
      });
      // No Neutron agents run here (the port groups are made in-process by the network driver), so
      // the agent list is empty for everyone, as Neutron's is with none registered.
      v2.get('/agents', async () => ({ agents: [] }));
      v2.get('/agents/:id', async (req) => {
        throw new ApiError(404, `Agent ${(req.params as { id: string }).id} could not be found.`, { name: 'AgentNotFound' });
      });
      for (const p of PARTS) await p.routes(v2, ctx);
    }, { prefix: '/v2.0' });
  },
};
