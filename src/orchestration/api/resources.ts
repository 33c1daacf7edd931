// Resources and events of a stack: list (nested_depth, with_detail, filters), show (with its
// attributes resolved), metadata, signal (and clearing hooks, which python-heatclient does by
// signalling {"unset_hook": ...}), mark unhealthy; the stack's and a resource's events.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { ApiError } from '../../core/errors.ts';
import { heatError, type HookType, type ResourceRecord, type StackRecord } from '../types.ts';
import {
  authorize, badRequest, bodyObject, boolQuery, callerOf, commaList, filtersOf, identifiedStack, parseBool, parseInt0, queryOf, single,
  sortDir, values, type HeatApiDeps,
} from './common.ts';
import { eventView, resourceView } from './views.ts';

const RESOURCE_FILTERS = ['type', 'status', 'name', 'action', 'id', 'physical_resource_id'];
const EVENT_FILTERS = ['resource_action', 'resource_status', 'resource_name', 'resource_type'];
const HOOKS: HookType[] = ['pre-create', 'pre-update', 'pre-delete'];

/** Applies Heat's resource filters (the engine may have done so already; this is idempotent). */
function matches(r: ResourceRecord, filters: Record<string, string[]>): boolean {
  for (const [k, want] of Object.entries(filters)) {
    const have = k === 'type' ? [r.type] : k === 'name' ? [r.name] : k === 'id' ? [r.uuid] : k === 'action' ? [r.action]
      : k === 'physical_resource_id' ? [r.physicalId ?? ''] : [r.status, `${r.action}_${r.status}`];
    if (!want.some((w) => have.includes(w))) return false;
  }
  return true;
}

export async function resourceRoutes(app: FastifyInstance, ctx: Context, deps: HeatApiDeps) {
  const { engine } = deps;
  const S = '/stacks/:stack_name/:stack_id';
  const R = `${S}/resources/:resource_name`;
  const resourceName = (req: FastifyRequest) => (req.params as { resource_name: string }).resource_name;
  const viewOpts = (stack: StackRecord) => ({ publicUrl: ctx.config.publicUrl, projectId: stack.projectId });

  /** Names and owners of the nested stacks a listing shows (for nested links and parent_resource). */
  async function nestedInfo(req: FastifyRequest, ids: string[]) {
    const info = new Map<string, StackRecord>();
    for (const id of new Set(ids)) {
      const s = await engine.find(callerOf(ctx, req.auth!), id, { showDeleted: true }).catch(() => null);
      if (s) info.set(id, s);
    }
    return info;
  }

  /** A resource by name or, as PATCH allows, by physical id. */
  async function resourceByNameOrPhysicalId(stack: StackRecord, nameOrId: string): Promise<ResourceRecord> {
    try {
      return await engine.getResource(stack, nameOrId);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      const all = await engine.listResources(stack, {});
      const found = all.find((r) => r.physicalId === nameOrId);
      if (!found) throw e;
      return found;
    }
  }

  app.get(`${S}/resources`, async (req) => {
    authorize(ctx, req, 'resource:index');
    const stack = await identifiedStack(ctx, deps, req, { showDeleted: true });
    const q = queryOf(req);
    const nestedDepth = parseInt0('nested_depth', single(q, 'nested_depth')) ?? 0;
    const withDetail = boolQuery(q, 'with_detail');
    const filters = filtersOf(q, RESOURCE_FILTERS);
    const list = (await engine.listResources(stack, { nestedDepth, filters, withDetail })).filter((r) => matches(r, filters));
    const related = await nestedInfo(req, [...list.map((r) => r.stackId).filter((id) => id !== stack.id), ...list.flatMap((r) => r.nestedStackId ?? [])]);
    return {
      resources: list.map((r) => resourceView(r, {
        ...viewOpts(stack),
        detail: withDetail,
        nestedName: r.nestedStackId ? related.get(r.nestedStackId)?.name ?? null : null,
        parentResource: r.stackId !== stack.id ? related.get(r.stackId)?.ownerResource ?? null : null,
      })),
    };
  });

  app.get(R, async (req) => {
    authorize(ctx, req, 'resource:show');
    const stack = await identifiedStack(ctx, deps, req, { showDeleted: true });
    const r = await engine.getResource(stack, resourceName(req));
    let attributes: Record<string, unknown> = {};
    try {
      attributes = await engine.resourceAttributes(stack, r.name);
    } catch (e) {
      // A resource that cannot resolve its attributes (not created yet, backend gone) is still shown.
      if (!(e instanceof ApiError) || e.status >= 500) ctx.log.warn(`attributes of ${stack.name}/${r.name}`, e);
    }
    const withAttr = values(queryOf(req), 'with_attr');
    if (withAttr.length) {
      for (const a of withAttr) if (!(a in attributes)) attributes[a] = null;
    }
    const related = await nestedInfo(req, r.nestedStackId ? [r.nestedStackId] : []);
    return {
      resource: resourceView(r, {
        ...viewOpts(stack), detail: true, attributes,
        nestedName: r.nestedStackId ? related.get(r.nestedStackId)?.name ?? null : null,
        parentResource: stack.ownerResource,
      }),
    };
  });

  app.get(`${R}/metadata`, async (req) => {
    authorize(ctx, req, 'resource:metadata');
    const stack = await identifiedStack(ctx, deps, req);
    const r = await engine.getResource(stack, resourceName(req));
    return { metadata: r.metadata ?? {} };
  });

  app.post(`${R}/signal`, async (req, reply) => {
    authorize(ctx, req, 'resource:signal');
    const stack = await identifiedStack(ctx, deps, req);
    const details = req.body === undefined || req.body === '' ? null : req.body;
    const name = resourceName(req);
    if (details && typeof details === 'object' && !Array.isArray(details) && 'unset_hook' in details) {
      const hook = (details as Record<string, unknown>).unset_hook;
      if (!HOOKS.includes(hook as HookType)) {
        throw heatError(400, 'InvalidBreakPointHook', `Invalid hook type "${String(hook)}" for resource breakpoint, acceptable hook types are: ${HOOKS.join(', ')}`);
      }
      await engine.clearHook(stack, name, hook as HookType);
    } else {
      await engine.signal(stack, name, details);
    }
    return reply.code(200).send();
  });

  app.patch(R, async (req, reply) => {
    authorize(ctx, req, 'resource:mark_unhealthy');
    const stack = await identifiedStack(ctx, deps, req);
    const body = bodyObject(req);
    const extra = Object.keys(body).filter((k) => k !== 'mark_unhealthy' && k !== 'resource_status_reason');
    if (extra.length) throw badRequest(`Invalid keys in resource mark unhealthy ${extra.join(', ')}`);
    if (!('mark_unhealthy' in body)) throw badRequest('Missing mandatory (mark_unhealthy) key from mark unhealthy request');
    const unhealthy = parseBool('mark_unhealthy', body.mark_unhealthy);
    const reason = body.resource_status_reason === undefined || body.resource_status_reason === null ? '' : String(body.resource_status_reason);
    const r = await resourceByNameOrPhysicalId(stack, resourceName(req));
    await engine.markUnhealthy(callerOf(ctx, req.auth!), stack, r.name, unhealthy, reason);
    return reply.code(200).send();
  });

  // ---------------------------------------------------------------- events

  function eventOptions(req: FastifyRequest) {
    const q = queryOf(req);
    const sortKeys = commaList(values(q, 'sort_keys')).filter((k) => ['event_time', 'resource_type', 'created_at'].includes(k));
    return {
      limit: parseInt0('limit', single(q, 'limit')),
      marker: single(q, 'marker') || undefined,
      sortKeys: sortKeys.length ? sortKeys : undefined,
      sortDir: sortDir(q),
      filters: filtersOf(q, EVENT_FILTERS),
      nestedDepth: parseInt0('nested_depth', single(q, 'nested_depth')),
    };
  }

  app.get(`${S}/events`, async (req) => {
    authorize(ctx, req, 'events:index');
    const stack = await identifiedStack(ctx, deps, req, { showDeleted: true });
    const events = await engine.events(stack, eventOptions(req));
    return { events: events.map((e) => eventView(e, viewOpts(stack))) };
  });

  app.get(`${R}/events`, async (req) => {
    authorize(ctx, req, 'events:index');
    const stack = await identifiedStack(ctx, deps, req, { showDeleted: true });
    const name = resourceName(req);
    const events = await engine.events(stack, { ...eventOptions(req), resourceName: name });
    if (!events.length) throw heatError(404, 'HTTPNotFound', `No events found for resource ${name}`);
    return { events: events.map((e) => eventView(e, viewOpts(stack))) };
  });

  app.get(`${R}/events/:event_id`, async (req) => {
    authorize(ctx, req, 'events:show');
    const stack = await identifiedStack(ctx, deps, req, { showDeleted: true });
    const { event_id } = req.params as { event_id: string };
    const e = await engine.event(stack, resourceName(req), event_id);
    return { event: eventView(e, { ...viewOpts(stack), detail: true }) };
  });
}
