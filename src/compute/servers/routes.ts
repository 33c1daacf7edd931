// /servers: list (index and detail), create, show, update and delete. Delete is a durable task
// (task_state deleting) ordered after any build or action of the same server; with
// reclaim_instance_interval > 0 it is a soft delete that the reconciler reclaims later.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { nowIso } from '../../core/ids.ts';
import { mv } from '../microversion.ts';
import { getInstance, updateInstance, type Instance } from './db.ts';
import { createServers } from './create.ts';
import { listServers } from './list.ts';
import { loadExtras, serverView } from './views.ts';
import { canonicalIpv4, canonicalIpv6, checkLock, findServer } from './common.ts';
import { recordAction } from './instance_actions.ts';
import { updateSchema } from './schemas.ts';
import { validateBody } from './validate.ts';
import { ACTION, DELETE } from './tasks.ts';
import { serversConfig } from './config.ts';

/** The show body of one server (full Nova view). */
export async function showBody(ctx: Context, req: FastifyRequest, inst: Instance, o: { full?: boolean; showUserData?: boolean; showKeypair?: boolean } = {}) {
  const extras = await loadExtras(ctx, req, [inst], { groups: true });
  return serverView(ctx, req, inst, extras, {
    full: o.full ?? true, showServerGroups: mv(req).atLeast('2.71'), showUserData: o.showUserData, showKeypair: o.showKeypair,
  });
}

/**
 * Deletes a server (hard, or soft when reclaim_instance_interval > 0 and it ever ran). Safe to
 * repeat: a second delete of a server already being deleted changes nothing.
 */
export async function deleteServer(ctx: Context, req: FastifyRequest, inst: Instance, opts: { force?: boolean } = {}) {
  const cfg = serversConfig(ctx);
  await ctx.db.tx(async (t) => {
    const cur = await getInstance(t, inst.uuid);
    if (!cur || cur.deleted || cur.taskState === 'deleting') return;
    const base = { uuid: cur.uuid, requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null };
    if (!opts.force && cfg.reclaimInstanceInterval > 0 && cur.launchedAt && cur.taskState === null && cur.vmState !== 'soft-delete') {
      await updateInstance(t, cur.uuid, { task_state: 'soft-deleting', deleted_at: nowIso() }, { expectTask: [null] });
      const actionId = await recordAction(t, { ...base, action: 'delete' });
      await ctx.tasks.enqueue(t, ACTION, { uuid: cur.uuid, op: 'soft_delete', actionId, expect: 'soft-deleting' }, { resourceId: cur.uuid });
      return;
    }
    await updateInstance(t, cur.uuid, { task_state: 'deleting' });
    const actionId = await recordAction(t, { ...base, action: 'delete' });
    await ctx.tasks.enqueue(t, DELETE, { uuid: cur.uuid, actionId }, { resourceId: cur.uuid });
  });
}

export async function serverRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/servers', async (req) => listServers(ctx, req, false));
  app.get('/servers/detail', async (req) => listServers(ctx, req, true));

  app.post('/servers', async (req, reply) => createServers(ctx, req, reply));

  app.get<{ Params: { id: string } }>('/servers/:id', async (req) => {
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:show', req.auth!, { project_id: inst.projectId });
    return { server: await showBody(ctx, req, inst) };
  });

  app.put<{ Params: { id: string } }>('/servers/:id', async (req) => {
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:update', req.auth!, { user_id: inst.userId, project_id: inst.projectId });
    validateBody(updateSchema(req), req.body);
    const s = (req.body as any).server as Record<string, any>;
    const fields: Record<string, unknown> = {};
    if ('name' in s) fields.display_name = s.name;
    if ('description' in s) fields.display_description = s.description;
    if ('accessIPv4' in s) fields.access_ip_v4 = canonicalIpv4(s.accessIPv4);
    if ('accessIPv6' in s) fields.access_ip_v6 = canonicalIpv6(s.accessIPv6);
    if ('OS-DCF:diskConfig' in s) fields.auto_disk_config = s['OS-DCF:diskConfig'] === 'AUTO' ? 1 : 0;
    await updateInstance(ctx.db, inst.uuid, fields);
    const cur = await findServer(ctx, req, inst.uuid);
    const full = mv(req).atLeast('2.75');
    return { server: await showBody(ctx, req, cur, { full }) };
  });

  app.delete<{ Params: { id: string } }>('/servers/:id', async (req, reply) => {
    const inst = await findServer(ctx, req, req.params.id);
    ctx.policy.authorize('os_compute_api:servers:delete', req.auth!, { user_id: inst.userId, project_id: inst.projectId });
    checkLock(ctx, req, inst);
    await deleteServer(ctx, req, inst);
    return reply.code(204).send();
  });
}
