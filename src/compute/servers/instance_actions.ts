// Instance actions and their events (os-instance-actions): every mutating server API call records
// an action keyed by the request id, in the same transaction as the change it asks for; the
// compute tasks record events ("compute_reboot_instance" ...) with their result, as Nova's
// wrap_instance_event does. Events are shown to admins (with traceback and, at 2.62, host) and
// to the owner at 2.51+; paging and changes-since/before at 2.58/2.66.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import type { Queryable } from '../../core/db/index.ts';
import { badRequest, notFound } from '../../core/errors.ts';
import { nowIso, uuid as newUuid } from '../../core/ids.ts';
import { mv } from '../microversion.ts';
import { allowed, limitAndMarker, novaTime, computeBase } from '../common.ts';
import { controllerHost } from '../hypervisors.ts';
import { instanceActionsQuerySchema } from './schemas.ts';
import { validateQuery, parseIsoTime } from './validate.ts';
import { hostId } from './views.ts';
import { findServer, queryMulti } from './common.ts';

export interface ActionRef { actionId: string }

/** Records the start of an action (call inside the transaction that changes the instance). */
export async function recordAction(q: Queryable, a: { uuid: string; action: string; requestId: string; userId: string | null; projectId: string | null }): Promise<string> {
  const id = newUuid();
  const now = nowIso();
  await q.run(`INSERT INTO instance_actions (id, action, instance_uuid, request_id, user_id, project_id, start_time, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [id, a.action, a.uuid, a.requestId, a.userId, a.projectId, now, now, now]);
  return id;
}

/** Records an event that starts and finishes at once (API-side events such as api_lock). */
export async function recordInstantEvent(q: Queryable, actionId: string, event: string, host: string | null = null) {
  const id = await startEvent(q, actionId, event, host);
  await finishEvent(q, id, null);
}

/** Starts an event, or re-uses the unfinished one of the same name (a task that runs again after a crash). */
export async function startEvent(q: Queryable, actionId: string | undefined, event: string, host: string | null): Promise<string> {
  if (!actionId) return '';
  const open = await q.get('SELECT id FROM instance_actions_events WHERE action_id = ? AND event = ? AND finish_time IS NULL', [actionId, event]);
  if (open) return open.id;
  const id = newUuid();
  const now = nowIso();
  await q.run('INSERT INTO instance_actions_events (id, action_id, event, start_time, host, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [id, actionId, event, now, host, now]);
  await q.run('UPDATE instance_actions SET updated_at = ? WHERE id = ?', [now, actionId]);
  return id;
}

/** Finishes an event: result Success, or Error with the traceback (and the action's message "Error"). */
export async function finishEvent(q: Queryable, eventId: string, err: unknown, details?: string) {
  if (!eventId) return;
  const now = nowIso();
  const failed = err !== null && err !== undefined;
  const tb = failed ? (err instanceof Error ? (err.stack ?? err.message) : String(err)) : null;
  await q.run('UPDATE instance_actions_events SET finish_time = ?, result = ?, traceback = ?, details = ? WHERE id = ? AND finish_time IS NULL',
    [now, failed ? 'Error' : 'Success', tb, details ?? null, eventId]);
  const ev = await q.get('SELECT action_id FROM instance_actions_events WHERE id = ?', [eventId]);
  if (ev) {
    await q.run(`UPDATE instance_actions SET updated_at = ?${failed ? ", message = 'Error'" : ''} WHERE id = ?`, [now, ev.action_id]);
  }
}

/** Runs fn inside a recorded event. */
export async function withEvent<T>(ctx: Context, actionId: string | undefined, event: string, host: string | null, fn: () => Promise<T>): Promise<T> {
  const ev = await startEvent(ctx.db, actionId, event, host);
  try {
    const r = await fn();
    await finishEvent(ctx.db, ev, null);
    return r;
  } catch (e) {
    await finishEvent(ctx.db, ev, e);
    throw e;
  }
}

export const conductorHost = () => controllerHost();

function actionView(req: FastifyRequest, r: any) {
  const a: Record<string, unknown> = {
    action: r.action, instance_uuid: r.instance_uuid, request_id: r.request_id, user_id: r.user_id,
    project_id: r.project_id, start_time: novaTime(r.start_time), message: r.message ?? null,
  };
  if (mv(req).atLeast('2.58')) a.updated_at = novaTime(r.updated_at);
  return a;
}

export async function instanceActionRoutes(app: FastifyInstance, ctx: Context) {
  app.get<{ Params: { server_id: string } }>('/servers/:server_id/os-instance-actions', async (req) => {
    const v = mv(req);
    const schema = instanceActionsQuerySchema(req);
    if (schema) validateQuery(schema, queryMulti(req));
    const inst = await findServer(ctx, req, req.params.server_id, { includeDeleted: v.atLeast('2.21') });
    ctx.policy.authorize('os_compute_api:os-instance-actions:list', req.auth!, { project_id: inst.projectId });
    let sql = 'SELECT * FROM instance_actions WHERE instance_uuid = ?';
    const params: any[] = [inst.uuid];
    let limit = Infinity;
    let marker: string | undefined;
    if (v.atLeast('2.58')) {
      const q = req.query as Record<string, string>;
      const since = q['changes-since'] !== undefined ? parseIsoTime(String(q['changes-since'])) : null;
      const before = q['changes-before'] !== undefined ? parseIsoTime(String(q['changes-before'])) : null;
      if (since && before && before < since) throw badRequest('The value of changes-since must be less than or equal to changes-before.');
      if (since) { sql += ' AND updated_at >= ?'; params.push(since.toISOString()); }
      if (before) { sql += ' AND updated_at <= ?'; params.push(before.toISOString()); }
      const lm = limitAndMarker(req);
      limit = lm.limit;
      marker = lm.marker;
    }
    let rows = await ctx.db.all(`${sql} ORDER BY created_at DESC, id DESC`, params);
    if (marker !== undefined) {
      const k = rows.findIndex((r) => r.request_id === marker);
      if (k < 0) throw badRequest(`Marker ${marker} could not be found.`);
      rows = rows.slice(k + 1);
    }
    const page = rows.slice(0, limit);
    const out: Record<string, unknown> = { instanceActions: page.map((r) => actionView(req, r)) };
    if (v.atLeast('2.58') && page.length && page.length === limit) {
      const href = `${computeBase(ctx)}/v2.1/servers/${inst.uuid}/os-instance-actions?limit=${limit}&marker=${encodeURIComponent(page[page.length - 1].request_id)}`;
      out.links = [{ rel: 'next', href }];
    }
    return out;
  });

  app.get<{ Params: { server_id: string; request_id: string } }>('/servers/:server_id/os-instance-actions/:request_id', async (req) => {
    const v = mv(req);
    const inst = await findServer(ctx, req, req.params.server_id, { includeDeleted: v.atLeast('2.21') });
    const target = { project_id: inst.projectId };
    ctx.policy.authorize('os_compute_api:os-instance-actions:show', req.auth!, target);
    const r = await ctx.db.get('SELECT * FROM instance_actions WHERE instance_uuid = ? AND request_id = ? ORDER BY created_at DESC LIMIT 1',
      [inst.uuid, req.params.request_id]);
    if (!r) throw notFound(`Action ${req.params.request_id} not found`);
    const action = actionView(req, r);
    let showEvents = false, showTraceback = false, showHost = false;
    if (allowed(ctx, req, 'os_compute_api:os-instance-actions:events', target)) {
      showEvents = true; showTraceback = true; showHost = v.atLeast('2.62');
    } else if (v.atLeast('2.51')) {
      showEvents = true;
    }
    if (showEvents) {
      const events = await ctx.db.all('SELECT * FROM instance_actions_events WHERE action_id = ? ORDER BY start_time DESC, id DESC', [r.id]);
      action.events = events.map((e) => {
        const ev: Record<string, unknown> = {
          event: e.event, start_time: novaTime(e.start_time), finish_time: novaTime(e.finish_time), result: e.result ?? null,
        };
        if (showTraceback) ev.traceback = e.traceback ?? null;
        if (showHost) ev.host = e.host ?? null;
        if (v.atLeast('2.62')) ev.hostId = hostId(e.host ?? null, r.project_id ?? inst.projectId);
        return ev;
      });
    }
    return { instanceAction: action };
  });
}
