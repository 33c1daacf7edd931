// /v1/{tenant_id}/stacks: create, list, preview, lookup by name (302 to the stack's URL, as Heat
// answers), show, update (PUT and PATCH, and their previews), delete, abandon, actions, and the
// template/environment/files/outputs of a stack.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { heatError, type StackRecord, type StackRequest } from '../types.ts';
import {
  authorize, badRequest, bodyObject, boolQuery, callerOf, commaList, identifiedStack, lookupStack, parseInt0, queryOf, single,
  sortDir, stackRequestOf, values, filtersOf, type HeatApiDeps,
} from './common.ts';
import { outputView, stackUrl, stackView } from './views.ts';

/** Paths below /stacks/{name} that Heat redirects to /stacks/{name}/{id}/... */
const SUBPATHS = ['resources', 'events', 'template', 'actions', 'environment', 'files', 'outputs', 'abandon', 'snapshots', 'preview', 'export'];

const STACK_FILTERS = ['id', 'status', 'name', 'action', 'tenant', 'username', 'owner_id'];
const SORT_KEYS = new Set(['stack_name', 'stack_status', 'creation_time', 'updated_time']);
const ACTIONS = ['suspend', 'resume', 'check', 'cancel_update', 'cancel_without_rollback'] as const;

function listOptions(req: FastifyRequest) {
  const q = queryOf(req);
  const filters = filtersOf(q, STACK_FILTERS);
  // A combined status (CREATE_COMPLETE) filters on both the action and the status.
  if (filters.status) {
    const plain: string[] = [];
    for (const s of filters.status) {
      const m = /^([A-Z]+)_(IN_PROGRESS|COMPLETE|FAILED)$/.exec(s);
      if (m) { (filters.action ??= []).push(m[1]); plain.push(m[2]); } else plain.push(s);
    }
    filters.status = [...new Set(plain)];
  }
  const sortKeys = commaList(values(q, 'sort_keys')).filter((k) => SORT_KEYS.has(k));
  return {
    limit: parseInt0('limit', single(q, 'limit')),
    marker: single(q, 'marker') || undefined,
    sortKeys: sortKeys.length ? sortKeys : undefined,
    sortDir: sortDir(q),
    filters,
    globalTenant: boolQuery(q, 'global_tenant'),
    showDeleted: boolQuery(q, 'show_deleted'),
    showNested: boolQuery(q, 'show_nested'),
    showHidden: boolQuery(q, 'show_hidden'),
    tags: commaList(single(q, 'tags')),
    tagsAny: commaList(single(q, 'tags_any')),
    notTags: commaList(single(q, 'not_tags')),
    notTagsAny: commaList(single(q, 'not_tags_any')),
  };
}

export async function stackRoutes(app: FastifyInstance, ctx: Context, deps: HeatApiDeps) {
  const { engine } = deps;
  const view = (s: StackRecord, extra: { detail?: boolean; outputs?: Parameters<typeof stackView>[1]['outputs'] } = {}) =>
    stackView(s, { publicUrl: ctx.config.publicUrl, region: ctx.config.region, ...extra });
  const caller = (req: FastifyRequest) => callerOf(ctx, req.auth!);

  async function list(req: FastifyRequest, detail: boolean) {
    authorize(ctx, req, detail ? 'stacks:detail' : 'stacks:index');
    const opts = listOptions(req);
    if (opts.globalTenant) authorize(ctx, req, 'stacks:global_index');
    const stacks = await engine.list(caller(req), opts);
    const body: Record<string, unknown> = { stacks: stacks.map((s) => view(s, { detail })) };
    if (boolQuery(queryOf(req), 'with_count')) {
      body.count = await engine.count(caller(req), { ...opts, limit: undefined, marker: undefined });
    }
    return body;
  }

  app.get('/stacks', async (req) => list(req, false));
  app.get('/stacks/detail', async (req) => list(req, true));

  app.post('/stacks', async (req, reply) => {
    authorize(ctx, req, 'stacks:create');
    const body = bodyObject(req);
    const sreq = await stackRequestOf(ctx, deps, body, { requireName: true, requireTemplate: true }) as StackRequest;
    let stack: StackRecord;
    if (body.adopt_stack_data !== undefined && body.adopt_stack_data !== null) {
      let data = body.adopt_stack_data;
      if (typeof data === 'string') {
        try { data = JSON.parse(data); } catch { throw badRequest('Invalid adopt data: adopt_stack_data is not valid JSON'); }
      }
      if (!data || typeof data !== 'object' || Array.isArray(data)) throw badRequest('Invalid adopt data: adopt_stack_data must be a map');
      stack = await engine.adopt(caller(req), sreq, data);
    } else {
      stack = await engine.create(caller(req), sreq);
    }
    const href = stackUrl(ctx.config.publicUrl, stack);
    reply.code(201).header('location', href);
    return { stack: { id: stack.id, links: [{ href, rel: 'self' }] } };
  });

  app.post('/stacks/preview', async (req) => {
    authorize(ctx, req, 'stacks:preview');
    const sreq = await stackRequestOf(ctx, deps, bodyObject(req), { requireName: true, requireTemplate: true }) as StackRequest;
    const preview = await engine.preview(caller(req), sreq);
    return 'stack' in preview && Object.keys(preview).length === 1 ? preview : { stack: preview };
  });

  // ---------------------------------------------------------------- lookup by name or id

  async function lookup(req: FastifyRequest, reply: FastifyReply, sub: string) {
    authorize(ctx, req, 'stacks:lookup');
    const { stack_name } = req.params as { stack_name: string };
    const stack = await lookupStack(ctx, deps, req, stack_name);
    const qs = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    return reply.redirect(`${stackUrl(ctx.config.publicUrl, stack)}${sub}${qs}`, 302);
  }
  app.all('/stacks/:stack_name', async (req, reply) => lookup(req, reply, ''));
  for (const sub of SUBPATHS) {
    app.all(`/stacks/:stack_name/${sub}`, async (req, reply) => lookup(req, reply, `/${sub}`));
    app.all(`/stacks/:stack_name/${sub}/*`, async (req, reply) => {
      const rest = (req.params as { '*': string })['*'];
      return lookup(req, reply, `/${sub}/${rest}`);
    });
  }

  // ---------------------------------------------------------------- one stack

  const S = '/stacks/:stack_name/:stack_id';

  app.get(S, async (req) => {
    authorize(ctx, req, 'stacks:show');
    const stack = await identifiedStack(ctx, deps, req, { showDeleted: true });
    const resolveOutputs = boolQuery(queryOf(req), 'resolve_outputs', true);
    const gone = stack.action === 'DELETE' && stack.status === 'COMPLETE';
    const outputs = !resolveOutputs ? undefined : gone ? [] : await engine.outputs(stack);
    return { stack: view(stack, { detail: true, outputs }) };
  });

  async function update(req: FastifyRequest, reply: FastifyReply, patch: boolean) {
    authorize(ctx, req, patch ? 'stacks:update_patch' : 'stacks:update');
    const stack = await identifiedStack(ctx, deps, req);
    const sreq = await updateRequest(req, stack, patch);
    await engine.update(caller(req), stack.id, sreq, { patch });
    return reply.code(202).send();
  }

  async function updateRequest(req: FastifyRequest, stack: StackRecord, patch: boolean): Promise<StackRequest> {
    const sreq = await stackRequestOf(ctx, deps, bodyObject(req), { requireName: false, requireTemplate: !patch });
    // PATCH without a template keeps the stack's current one (Heat's existing=true).
    return { ...sreq, stack_name: stack.name, template: sreq.template ?? engine.template(stack) };
  }

  app.put(S, async (req, reply) => update(req, reply, false));
  app.patch(S, async (req, reply) => update(req, reply, true));

  async function previewUpdate(req: FastifyRequest, patch: boolean) {
    authorize(ctx, req, patch ? 'stacks:preview_update_patch' : 'stacks:preview_update');
    const stack = await identifiedStack(ctx, deps, req);
    const sreq = await updateRequest(req, stack, patch);
    const changes = await engine.previewUpdate(caller(req), stack.id, sreq, { patch, showNested: boolQuery(queryOf(req), 'show_nested') });
    return 'resource_changes' in changes ? changes : { resource_changes: changes };
  }
  app.put(`${S}/preview`, async (req) => previewUpdate(req, false));
  app.patch(`${S}/preview`, async (req) => previewUpdate(req, true));

  app.delete(S, async (req, reply) => {
    authorize(ctx, req, 'stacks:delete');
    const stack = await identifiedStack(ctx, deps, req);
    await engine.delete(caller(req), stack.id);
    return reply.code(204).send();
  });

  // python-heatclient abandons with DELETE .../abandon; POST is accepted as well.
  const abandon = async (req: FastifyRequest) => {
    authorize(ctx, req, 'stacks:abandon');
    const stack = await identifiedStack(ctx, deps, req);
    return engine.abandon(caller(req), stack.id);
  };
  app.delete(`${S}/abandon`, abandon);
  app.post(`${S}/abandon`, abandon);

  app.post(`${S}/actions`, async (req, reply) => {
    const body = bodyObject(req);
    const keys = Object.keys(body);
    if (keys.length === 0) throw badRequest('No action specified');
    if (keys.length > 1) throw badRequest('Multiple actions specified');
    const action = keys[0] as (typeof ACTIONS)[number];
    if (!ACTIONS.includes(action)) throw badRequest(`Invalid action ${keys[0]} specified`);
    authorize(ctx, req, `actions:${action}`);
    const stack = await identifiedStack(ctx, deps, req);
    if (action === 'cancel_update') await engine.cancelUpdate(caller(req), stack.id, { rollback: true });
    else if (action === 'cancel_without_rollback') await engine.cancelUpdate(caller(req), stack.id, { rollback: false });
    else await engine.action(caller(req), stack.id, action);
    return reply.code(200).send();
  });

  app.get(`${S}/template`, async (req) => {
    authorize(ctx, req, 'stacks:template');
    return engine.template(await identifiedStack(ctx, deps, req, { showDeleted: true }));
  });
  app.get(`${S}/environment`, async (req) => {
    authorize(ctx, req, 'stacks:environment');
    return engine.environment(await identifiedStack(ctx, deps, req, { showDeleted: true }));
  });
  app.get(`${S}/files`, async (req) => {
    authorize(ctx, req, 'stacks:files');
    return (await identifiedStack(ctx, deps, req, { showDeleted: true })).files ?? {};
  });

  app.get(`${S}/outputs`, async (req) => {
    authorize(ctx, req, 'stacks:list_outputs');
    const stack = await identifiedStack(ctx, deps, req);
    const outputs = await engine.outputs(stack);
    // Listing does not resolve values in Heat: keys and descriptions only.
    return { outputs: outputs.map((o) => ({ output_key: o.output_key, description: o.description ?? 'No description given' })) };
  });
  app.get(`${S}/outputs/:output_key`, async (req) => {
    authorize(ctx, req, 'stacks:show_output');
    const stack = await identifiedStack(ctx, deps, req);
    const { output_key } = req.params as { output_key: string };
    return { output: outputView(await engine.output(stack, output_key)) };
  });

  // Snapshots are not offered; Heat's list of a stack without any is empty.
  app.get(`${S}/snapshots`, async (req) => {
    authorize(ctx, req, 'stacks:list_snapshots');
    await identifiedStack(ctx, deps, req);
    return { snapshots: [] };
  });
  app.post(`${S}/snapshots`, async (req) => {
    authorize(ctx, req, 'stacks:snapshot');
    await identifiedStack(ctx, deps, req);
    throw heatError(400, 'NotSupported', 'Stack snapshots are not supported.');
  });
}
