// Nova's servers: the instances table and its relatives, the /servers API with its actions and
// sub-resources, instance actions, the scheduler, the compute manager's durable tasks and the
// reconciler. See the files of this folder; this one assembles the compute part.
import type { ComputePart } from '../index.ts';
import type { Context } from '../../core/service.ts';
import { migrations } from './db.ts';
import { bdmMigrations } from './bdm.ts';
import { serverRoutes } from './routes.ts';
import { actionRoutes } from './actions.ts';
import { subresourceRoutes } from './subresources.ts';
import { instanceActionRoutes } from './instance_actions.ts';
import { registerTasks } from './tasks.ts';
import { interfaceRoutes, registerInterfaceTasks } from './interfaces.ts';
import { registerVolumeTasks, volumeAttachmentRoutes } from './volume_attachments.ts';
import { Reconciler } from './reconciler.ts';

const reconcilers = new Map<Context, Reconciler>();

/** The reconciler of a running cloud (tests run a pass with `await reconcilerOf(ctx).tick()`). */
export function reconcilerOf(ctx: Context): Reconciler {
  let r = reconcilers.get(ctx);
  if (!r) { r = new Reconciler(ctx); reconcilers.set(ctx, r); }
  return r;
}

export const servers: ComputePart = {
  migrations: [...migrations, ...bdmMigrations],
  async init(ctx) {
    registerTasks(ctx);
    registerInterfaceTasks(ctx);
    registerVolumeTasks(ctx);
  },
  async routes(app, ctx) {
    await serverRoutes(app, ctx);
    await actionRoutes(app, ctx);
    await subresourceRoutes(app, ctx);
    await interfaceRoutes(app, ctx);
    await volumeAttachmentRoutes(app, ctx);
    await instanceActionRoutes(app, ctx);
  },
  async start(ctx) {
    const r = reconcilerOf(ctx);
    // A first pass at start-up repairs what a crash left behind, then the periodic loop runs.
    void r.tick();
    r.start();
  },
  async stop(ctx?: Context) {
    const targets = ctx ? [ctx] : [...reconcilers.keys()];
    for (const c of targets) {
      const r = reconcilers.get(c);
      if (!r) continue;
      await r.stop();
      reconcilers.delete(c);
    }
  },
};
