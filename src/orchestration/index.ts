// Heat (orchestration) at /heat-api, as DevStack serves it: the v1 API (api/), the engine that
// converges stacks with durable tasks (engine/), the template language (template/) and the
// resource plugins (resources/), which reach the other services through their APIs in-process
// as the stack's owner (client.ts).
import type { Context, ServiceModule } from '../core/service.ts';
import type { TemplateHelpers } from './api/common.ts';
import { heatRoutes } from './api/routes.ts';
import { HEAT_POLICY } from './api/policy.ts';
import { orchestrationMigrations } from './db.ts';
import { softwareMigrations } from './software/store.ts';
import { softwareRoutes } from './software/routes.ts';
import { signalMigrations, verifySignal } from './signal_url.ts';
import { createClient } from './client.ts';
import { createEngine } from './engine/index.ts';
import { registry } from './resources/registry.ts';
import * as template from './template/index.ts';
import type { OrchestrationEngine } from './types.ts';

type Engine = ReturnType<typeof createEngine>;

const engines = new WeakMap<Context, Engine>();

/** The engine of a running cloud (tests and tools reach past HTTP with it). */
export function orchestrationEngine(ctx: Context): Engine {
  const e = engines.get(ctx);
  if (!e) throw new Error('orchestration module not initialised');
  return e;
}

export const orchestration: ServiceModule = {
  name: 'orchestration',
  prefix: '/heat-api',
  migrations: [...orchestrationMigrations, ...softwareMigrations, ...signalMigrations],
  policy: HEAT_POLICY,
  catalog: [{ type: 'orchestration', name: 'heat', path: '/heat-api/v1/$(project_id)s' }],

  async init(ctx) {
    const engine = createEngine(ctx, { registry, client: (owner) => createClient(ctx, owner) });
    engine.register();
    engines.set(ctx, engine);
  },

  async routes(app, ctx) {
    await heatRoutes(app, ctx, {
      engine: orchestrationEngine(ctx) as OrchestrationEngine,
      registry,
      template: template as unknown as TemplateHelpers,
      verifySignal,
      extraRoutes: softwareRoutes,
    });
  },
};
