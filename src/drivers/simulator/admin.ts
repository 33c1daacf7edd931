// The simulator's admin API at /simulator (admin token required): what the simulated vCenter
// holds — inventory, VMs with their devices, recent tasks — and failure injection for tests.
// Not an OpenStack API (no catalog entry); errors use {"error": {"code", "message"}}.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context, ServiceModule } from '../../core/service.ts';
import { useErrorFormat } from '../../core/http.ts';
import { requireToken } from '../../core/auth.ts';
import { badRequest, notFound } from '../../core/errors.ts';
import { VirtDriverError } from '../../core/virt.ts';
import type { SimulatorDriver } from './index.ts';
import type { SimVCenter } from './vcenter.ts';
import { renderConsole } from './console.ts';

export const SIMULATOR_POLICY: Record<string, string> = {
  'simulator:inventory:get': 'role:admin',
  'simulator:tasks:list': 'role:admin',
  'simulator:faults:list': 'role:admin',
  'simulator:faults:create': 'role:admin',
  'simulator:faults:delete': 'role:admin',
  'simulator:config:update': 'role:admin',
};

function vcenterOf(ctx: Context): SimVCenter {
  const d = ctx.driver as Partial<SimulatorDriver>;
  if (ctx.driver.name !== 'simulator' || !d.vcenter) throw notFound('The vSphere simulator is not the virtualization driver of this cloud.');
  return d.vcenter;
}

const TASK_STATES = new Set(['queued', 'running', 'success', 'error']);

export const simulatorAdmin: ServiceModule = {
  name: 'simulator',
  prefix: '/simulator',
  migrations: [],
  policy: SIMULATOR_POLICY,
  async routes(app: FastifyInstance, ctx: Context) {
    useErrorFormat(app, ctx, (e) => ({ body: { error: { code: e.status, message: e.message } } }));
    app.addHook('preHandler', requireToken(ctx.tokens));
    const can = (req: FastifyRequest, rule: string) => ctx.policy.authorize(rule, req.auth!, {});
    // A VirtDriverError from validation is the caller's mistake: a 400 in our format.
    const wrap = <T>(fn: () => T): T => {
      try { return fn(); } catch (e) {
        if (e instanceof VirtDriverError && e.fault === 'InvalidArgument') throw badRequest(e.message);
        throw e;
      }
    };

    app.get('/', async (req) => {
      can(req, 'simulator:inventory:get');
      const vc = vcenterOf(ctx);
      return { about: vc.inventory().about, latencyMs: vc.latencyMs, vms: vc.allVms().length };
    });

    app.get('/inventory', async (req) => {
      can(req, 'simulator:inventory:get');
      return vcenterOf(ctx).inventory();
    });

    app.get('/vms', async (req) => {
      can(req, 'simulator:inventory:get');
      const vc = vcenterOf(ctx);
      return { vms: vc.allVms().map((vm) => vc.describeVm(vm)) };
    });

    app.get<{ Params: { name: string } }>('/vms/:name', async (req) => {
      can(req, 'simulator:inventory:get');
      const vc = vcenterOf(ctx);
      const vm = vc.vm(req.params.name) ?? vc.allVms().find((v) => v.moref === req.params.name);
      if (!vm) throw notFound(`VM ${req.params.name} does not exist.`);
      return { vm: vc.describeVm(vm) };
    });

    app.get<{ Params: { name: string } }>('/vms/:name/console', async (req, reply) => {
      can(req, 'simulator:inventory:get');
      const vm = vcenterOf(ctx).vm(req.params.name);
      if (!vm) throw notFound(`VM ${req.params.name} does not exist.`);
      reply.type('text/plain; charset=utf-8');
      return renderConsole(vm);
    });

    app.get<{ Querystring: Record<string, string> }>('/tasks', async (req) => {
      can(req, 'simulator:tasks:list');
      const q = req.query;
      for (const k of Object.keys(q)) if (!['limit', 'state', 'name', 'entity'].includes(k)) throw badRequest(`Unknown query parameter '${k}'`);
      let limit = 100;
      if (q.limit !== undefined) {
        if (!/^\d{1,4}$/.test(q.limit) || Number(q.limit) < 1) throw badRequest("'limit' must be an integer between 1 and 9999");
        limit = Number(q.limit);
      }
      if (q.state !== undefined && !TASK_STATES.has(q.state)) throw badRequest(`'state' must be one of ${[...TASK_STATES].join(', ')}`);
      let tasks = vcenterOf(ctx).recentTasks();
      if (q.state) tasks = tasks.filter((t) => t.state === q.state);
      if (q.name) tasks = tasks.filter((t) => t.name === q.name);
      if (q.entity) tasks = tasks.filter((t) => t.entityName === q.entity || t.entity === q.entity);
      return { tasks: tasks.slice(-limit).reverse() }; // newest first, as vCenter's Recent Tasks
    });

    app.get('/faults', async (req) => {
      can(req, 'simulator:faults:list');
      return { faults: vcenterOf(ctx).listFaults() };
    });

    app.post('/faults', async (req, reply) => {
      can(req, 'simulator:faults:create');
      const vc = vcenterOf(ctx);
      const body = req.body as any;
      if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1 || !('fault' in body)) {
        throw badRequest('The request body must be {"fault": {...}}');
      }
      const rule = wrap(() => vc.addFault(body.fault));
      reply.code(201);
      return { fault: rule };
    });

    app.delete<{ Params: { id: string } }>('/faults/:id', async (req, reply) => {
      can(req, 'simulator:faults:delete');
      if (!vcenterOf(ctx).deleteFault(req.params.id)) throw notFound(`Fault rule ${req.params.id} does not exist.`);
      reply.code(204);
    });

    app.delete('/faults', async (req, reply) => {
      can(req, 'simulator:faults:delete');
      vcenterOf(ctx).clearFaults();
      reply.code(204);
    });

    app.put('/config', async (req) => {
      can(req, 'simulator:config:update');
      const vc = vcenterOf(ctx);
      const body = req.body as any;
      const c = body?.config;
      if (!c || typeof c !== 'object' || Array.isArray(c)) throw badRequest('The request body must be {"config": {"latencyMs": N}}');
      for (const k of Object.keys(c)) if (k !== 'latencyMs') throw badRequest(`Unknown field '${k}'`);
      if (c.latencyMs !== undefined) {
        if (!Number.isInteger(c.latencyMs) || c.latencyMs < 0 || c.latencyMs > 600_000) throw badRequest("'latencyMs' must be an integer between 0 and 600000");
        vc.latencyMs = c.latencyMs;
      }
      return { config: { latencyMs: vc.latencyMs } };
    });
  },
};
