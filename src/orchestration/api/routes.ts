// Heat's v1 API under /heat-api: version discovery, the pre-signed signal URL handed to guests
// (no token: its signature is the credential), and the token-authenticated project scope
// /v1/{tenant_id} with stacks, resources, events, templates, resource types and the software
// config API.
import type { FastifyInstance } from 'fastify';
import type { Context } from '../../core/service.ts';
import { requireToken } from '../../core/auth.ts';
import { heatError } from '../types.ts';
import { useHeatErrors } from './fault.ts';
import { callerOf, SERVICE_CALLER, single, queryOf, stackNotFound, type HeatApiDeps } from './common.ts';
import { stackRoutes } from './stacks.ts';
import { resourceRoutes } from './resources.ts';
import { catalogRoutes } from './catalog.ts';

function versions(ctx: Context) {
  return { versions: [{ id: 'v1.0', status: 'CURRENT', links: [{ href: `${ctx.config.publicUrl}/heat-api/v1/`, rel: 'self' }] }] };
}

export async function heatRoutes(app: FastifyInstance, ctx: Context, deps: HeatApiDeps) {
  useHeatErrors(app, ctx);
  // Heat's JSON answers carry a bare application/json (Tempest's gabbits compare the header exactly).
  app.addHook('onSend', async (_req, reply, payload) => {
    const ct = reply.getHeader('content-type');
    if (typeof ct === 'string' && ct.startsWith('application/json')) reply.header('content-type', 'application/json');
    return payload;
  });

  // Heat answers version discovery with 300 Multiple Choices, at the root and at /v1/ alike.
  app.get('/', async (_req, reply) => reply.code(300).send(versions(ctx)));
  app.get('/v1', async (_req, reply) => reply.code(300).send(versions(ctx)));

  await app.register(async (sig: FastifyInstance) => {
    // Guests signal with whatever curl sends: take any body, JSON when it parses.
    sig.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
      const text = String(body ?? '');
      if (!text) return done(null, undefined);
      try { done(null, JSON.parse(text)); } catch { done(null, text); }
    });
    sig.post('/v1/signal/:stack_id/:resource_name', async (req, reply) => {
      const { stack_id, resource_name } = req.params as { stack_id: string; resource_name: string };
      const signature = single(queryOf(req), 'signature');
      const ok = !!signature && !!deps.verifySignal && await deps.verifySignal(ctx, stack_id, resource_name, signature);
      if (!ok) throw heatError(403, 'HTTPForbidden', 'The signature of the signal URL is not valid.');
      const stack = await deps.engine.find(SERVICE_CALLER, stack_id);
      if (!stack) throw stackNotFound(stack_id);
      await deps.engine.signal(stack, resource_name, req.body === undefined || req.body === '' ? null : req.body);
      return reply.code(200).send();
    });
  });

  await app.register(async (v1: FastifyInstance) => {
    v1.addHook('preHandler', requireToken(ctx.tokens));
    // The project in the URL must be the token's unless the caller is an admin (Heat's policy_enforce).
    v1.addHook('preHandler', async (req) => {
      const { tenant_id } = req.params as { tenant_id?: string };
      const a = req.auth!;
      if (tenant_id !== undefined && tenant_id !== a.projectId && !callerOf(ctx, a).isAdmin) {
        throw heatError(403, 'HTTPForbidden', 'Access was denied to this resource.');
      }
    });
    await catalogRoutes(v1, ctx, deps);
    await stackRoutes(v1, ctx, deps);
    await resourceRoutes(v1, ctx, deps);
    if (deps.extraRoutes) await deps.extraRoutes(v1, ctx);
  }, { prefix: '/v1/:tenant_id' });
}
