// Heat's engine as the API sees it (OrchestrationEngine in types.ts): requests are validated and
// stored with a durable task in one transaction; the task (runtime.ts) converges the stack.
import type { Context } from '../../core/service.ts';
import type { Queryable } from '../../core/db/index.ts';
import { fromJson, isUniqueViolation, toJson } from '../../core/db/index.ts';
import { uuid, isUuid } from '../../core/ids.ts';
import type {
  Caller, Environment, EventRecord, HookType, NestedStackDefinition, OrchestrationEngine, ResourceContext, ResourcePlugin, ResourceRecord,
  StackAction, StackRecord, StackRequest, Template,
} from '../types.ts';
import { heatError, validationFailed } from '../types.ts';
import { parseTemplate, parseEnvironment, mergeEnvironments, parametersView, resolve, resolveParameters, evaluateConditions, validateProperties } from '../template/index.ts';
import { Runtime, StackView, TASK_KIND, type EngineDeps, topo, childEnvironment, withTemplateFiles } from './runtime.ts';
import { type ResourceRow, type StackRow, eventRecord, getStackRow, nextSeq, stackRecord, setResourceState, setStackState } from './store.ts';

export { TASK_KIND } from './runtime.ts';

/** Resource types whose preview shows the nested stack they create (Heat's stack resources). */
const PREVIEW_NESTED = new Set(['OS::Heat::ResourceGroup', 'OS::Heat::AutoScalingGroup', 'AWS::AutoScaling::AutoScalingGroup']);

/** Stacks with one of these tags are left out of lists unless show_hidden (Heat's hidden_stack_tags). */
export const HIDDEN_TAGS = ['data-processing-cluster', 'hidden'];

const STACK_NAME = /^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$/;

type ListOpts = Parameters<OrchestrationEngine['list']>[1];

export type Engine = OrchestrationEngine & {
  register(): void;
  /** Stops every operation of this engine without writing anything more (tests: a simulated kill). */
  halt(): void;
  /** Resolves when the stack is no longer IN_PROGRESS (tests). */
  settled(stackId: string, timeoutMs?: number): Promise<StackRecord>;
};

export function createEngine(ctx: Context, deps: EngineDeps): Engine {
  const rt = new Runtime(ctx, deps);
  const db = ctx.db;

  const notFoundStack = (id: string) => heatError(404, 'EntityNotFound', `The Stack (${id}) could not be found.`);
  const resourceNotFound = (name: string, stack: string) => heatError(404, 'ResourceNotFound', `The Resource (${name}) could not be found in Stack ${stack}.`);

  async function load(stack: StackRecord | string): Promise<StackView> {
    const id = typeof stack === 'string' ? stack : stack.id;
    const sv = await StackView.load(rt, db, id);
    if (!sv) throw notFoundStack(id);
    return sv;
  }

  async function ownedRow(caller: Caller, id: string): Promise<StackRow> {
    const row = await getStackRow(db, id);
    if (!row || row.deleted_at || (row.project_id !== caller.projectId && !caller.isAdmin)) throw notFoundStack(id);
    return row;
  }

  function inProgress(row: StackRow) {
    return heatError(409, 'ActionInProgress', `Stack ${row.name} already has an action (${row.action}) in progress.`);
  }

  /** The environment of a request: environment_files (names in files) then environment. */
  function requestEnv(req: Partial<StackRequest>, base?: Environment): Environment {
    let env = base ?? parseEnvironment({});
    for (const f of req.environment_files ?? []) {
      const src = req.files?.[f];
      if (src === undefined) throw validationFailed(`Could not fetch environment file ${f}.`);
      env = mergeEnvironments(env, parseEnvironment(src));
    }
    if (req.environment) env = mergeEnvironments(env, parseEnvironment(req.environment as Record<string, unknown>));
    return env;
  }

  function enqueue(t: Queryable, stackId: string) {
    return ctx.tasks.enqueue(t, TASK_KIND, { stackId }, { resourceId: stackId, maxAttempts: 50 });
  }

  async function createOrAdopt(caller: Caller, req: StackRequest, action: StackAction, adopt?: Record<string, any>): Promise<StackRecord> {
    if (!req.stack_name || !STACK_NAME.test(req.stack_name)) {
      throw validationFailed(`Invalid stack name ${req.stack_name ?? ''} must contain only alphanumeric or "_-." characters, must start with alpha and must be 255 characters or less.`);
    }
    const id = uuid();
    if (await db.get('SELECT id FROM heat_stacks WHERE project_id = ? AND name = ? AND deleted_at IS NULL', [caller.projectId, req.stack_name])) {
      throw heatError(409, 'StackExists', `The Stack (${req.stack_name}) already exists.`);
    }
    const env = requestEnv(req);
    const files = req.files ?? {};
    const given = { ...(req.parameters ?? {}) };
    const p = await rt.prepare({
      template: req.template, env, files, given,
      stack: { name: req.stack_name, id, projectId: caller.projectId, region: ctx.config?.region ?? 'RegionOne' },
      owner: { userId: caller.userId, projectId: caller.projectId },
    });
    try {
      await db.tx(async (t) => {
        await t.lock(`heat-stack-name:${caller.projectId}:${req.stack_name}`);
        if (await t.get('SELECT id FROM heat_stacks WHERE project_id = ? AND name = ? AND deleted_at IS NULL', [caller.projectId, req.stack_name])) {
          throw heatError(409, 'StackExists', `The Stack (${req.stack_name}) already exists.`);
        }
        await rt.insertStack(t, p, {
          id, name: req.stack_name, projectId: caller.projectId, userId: caller.userId, parentId: null, ownerResource: null,
          action, timeoutMins: req.timeout_mins ?? null, disableRollback: req.disable_rollback ?? true, tags: req.tags ?? [], adopt,
        });
        await enqueue(t, id);
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw heatError(409, 'StackExists', `The Stack (${req.stack_name}) already exists.`);
      throw e;
    }
    return stackRecord((await getStackRow(db, id))!);
  }

  /** The new desired state of an update (PATCH keeps what is not given). */
  async function updateInputs(row: StackRow, req: StackRequest, patch: boolean) {
    const prevEnv = fromJson<Environment>(row.environment, parseEnvironment({}));
    const hasTemplate = req.template && Object.keys(req.template).length > 0;
    if (!patch && !hasTemplate) throw validationFailed('No template specified');
    const template = hasTemplate ? req.template : fromJson(row.template, {});
    const files = patch ? { ...fromJson(row.files, {}), ...(req.files ?? {}) } : (req.files ?? {});
    const env = patch ? requestEnv({ ...req, files }, prevEnv) : requestEnv({ ...req, files });
    let given: Record<string, unknown> = patch ? { ...fromJson(row.given_parameters, {}), ...(req.parameters ?? {}) } : { ...(req.parameters ?? {}) };
    for (const k of req.clear_parameters ?? []) delete given[k];
    const p = await rt.prepare({
      template, env, files, given,
      stack: { name: row.name, id: row.id, projectId: row.project_id, region: ctx.config?.region ?? 'RegionOne' },
      owner: { userId: row.user_id, projectId: row.project_id },
    });
    // Immutable parameters keep their value.
    const old = fromJson<Record<string, unknown>>(row.parameters, {});
    const bad = Object.entries(p.t.parameters).filter(([k, s]) => s.immutable && k in old && toJson(old[k]) !== toJson(p.params[k])).map(([k]) => k);
    if (bad.length) throw heatError(400, 'ImmutableParameterModified', `The following parameters are immutable and may not be updated: ${bad.join(', ')}`);
    return p;
  }

  function filterMatch(value: unknown, wanted: string[] | undefined): boolean {
    if (!wanted || !wanted.length) return true;
    return wanted.some((w) => String(value ?? '') === w);
  }

  async function visibleRows(caller: Caller, o: ListOpts): Promise<StackRow[]> {
    let rows = await db.all<StackRow>('SELECT * FROM heat_stacks');
    rows = rows.filter((r) => {
      if (!(o.globalTenant && caller.isAdmin) && r.project_id !== caller.projectId) return false;
      if (!o.showDeleted && r.deleted_at) return false;
      if (!o.showNested && r.parent_id) return false;
      const tags = fromJson<string[]>(r.tags, []);
      if (!o.showHidden && tags.some((t) => HIDDEN_TAGS.includes(t))) return false;
      if (o.tags?.length && !o.tags.every((t) => tags.includes(t))) return false;
      if (o.tagsAny?.length && !o.tagsAny.some((t) => tags.includes(t))) return false;
      if (o.notTags?.length && o.notTags.every((t) => tags.includes(t))) return false;
      if (o.notTagsAny?.length && o.notTagsAny.some((t) => tags.includes(t))) return false;
      const f = o.filters ?? {};
      if (!filterMatch(r.id, f.id)) return false;
      if (!filterMatch(r.name, f.name ?? f.stack_name)) return false;
      const st = f.status ?? f.stack_status;
      if (st?.length && !st.some((s) => s === r.status || s === `${r.action}_${r.status}`)) return false;
      if (!filterMatch(r.action, f.action ?? f.stack_action)) return false;
      if (!filterMatch(r.project_id, f.tenant ?? f.project_id ?? f.tenant_id)) return false;
      if (!filterMatch(r.user_id, f.username ?? f.user_id)) return false;
      if (!filterMatch(r.parent_id, f.owner_id ?? f.parent)) return false;
      return true;
    });
    const colOf: Record<string, keyof StackRow> = {
      name: 'name', stack_name: 'name', status: 'status', stack_status: 'status', created_at: 'created_at', creation_time: 'created_at',
      updated_at: 'updated_at', updated_time: 'updated_at', id: 'id', action: 'action', stack_action: 'action',
    };
    const keys = (o.sortKeys?.length ? o.sortKeys : ['created_at']).map((k) => {
      const c = colOf[k];
      if (!c) throw heatError(400, 'HTTPBadRequest', `Sort key "${k}" not supported`);
      return c;
    });
    const dir = (o.sortDir ?? 'desc') === 'asc' ? 1 : -1;
    rows.sort((a, b) => {
      for (const k of [...keys, 'id' as const]) {
        const x = String(a[k] ?? ''), y = String(b[k] ?? '');
        if (x !== y) return (x < y ? -1 : 1) * dir;
      }
      return 0;
    });
    return rows;
  }

  function resourceRecord(sv: StackView, r: ResourceRow, all: ResourceRow[]): ResourceRecord & { parentResource: string | null } {
    return {
      uuid: r.uuid, stackId: sv.row.id, stackName: sv.row.name, name: r.name, type: r.type, physicalId: r.physical_id,
      action: r.action, status: r.status, statusReason: r.status_reason,
      requires: fromJson<string[]>(r.requires, []),
      requiredBy: [...new Set(all.filter((o) => fromJson<string[]>(o.requires, []).includes(r.name) && !o.replaced_by).map((o) => o.name))],
      metadata: fromJson(r.metadata, {}),
      createdAt: r.created_at, updatedAt: r.updated_at,
      nestedStackId: r.nested_stack_id, description: '',
      parentResource: sv.row.owner_resource,
    };
  }

  function resourceMatches(rec: ResourceRecord, f: Record<string, string[]> | undefined): boolean {
    if (!f) return true;
    if (!filterMatch(rec.name, f.name ?? f.resource_name)) return false;
    const st = f.status ?? f.resource_status;
    if (st?.length && !st.some((s) => s === rec.status || s === `${rec.action}_${rec.status}`)) return false;
    if (!filterMatch(rec.action, f.action ?? f.resource_action)) return false;
    if (!filterMatch(rec.type, f.type ?? f.resource_type)) return false;
    if (!filterMatch(rec.uuid, f.id)) return false;
    if (!filterMatch(rec.physicalId, f.physical_resource_id)) return false;
    return true;
  }

  /** A resource as POST /stacks/preview shows it (Heat's wire names). */
  async function previewResources(sv: StackView, projectId: string, parent: string | null, depth = 0): Promise<unknown[]> {
    const out: unknown[] = [];
    const defs = sv.defs();
    const graph = sv.graph(defs);
    const fc = sv.fc({ preview: true });
    for (const d of defs) {
      const plugin = sv.plugin(d.type, d.name);
      const raw = await resolve(d.properties ?? {}, fc) as Record<string, unknown>;
      const nestedT: Template | undefined = (plugin as any).nestedTemplate;
      if (nestedT) {
        out.push(await previewNested(sv, projectId, d.name, nestedT, raw ?? {}, {}, depth));
        continue;
      }
      const values: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(raw ?? {})) if (v !== null && v !== undefined) values[k] = v;
      const props = await validateProperties(plugin.properties, values, `resources.${d.name}.properties`);
      // Groups show their members' nested stack, as Heat's preview does for stack resources.
      const def = PREVIEW_NESTED.has(plugin.type) ? await nestedDefinitionOf(sv, d.name, plugin, props) : null;
      if (def) {
        out.push(await previewNested(sv, projectId, d.name, parseTemplate(def.template), def.parameters ?? {}, def.files ?? {}, depth));
        continue;
      }
      const identity = { stack_name: sv.row.name, stack_id: 'None', tenant: projectId, path: '' };
      out.push({
        resource_name: d.name, resource_type: d.type, resource_action: 'INIT', resource_status: 'COMPLETE',
        resource_status_reason: '', physical_resource_id: '', description: '', creation_time: null, updated_time: null,
        attributes: Object.fromEntries(Object.keys(plugin.attributes).map((a) => [a, null])),
        properties: props, metadata: await resolve(d.metadata ?? {}, fc) ?? {},
        required_by: defs.filter((o) => (graph.get(o.name) ?? []).includes(d.name)).map((o) => o.name),
        requires: graph.get(d.name) ?? [],
        stack_name: sv.row.name, stack_identity: identity, resource_identity: { ...identity, path: `/resources/${d.name}` },
        ...(parent ? { parent_resource: parent } : {}),
      });
    }
    return out;
  }

  /** The nested stack a resource owns, previewed: its resources, in a list. */
  async function previewNested(sv: StackView, projectId: string, name: string, nt: Template, given: Record<string, unknown>,
    files: Record<string, string>, depth: number): Promise<unknown[]> {
    // Heat's max_nested_stack_depth (5) bounds template resources that include themselves.
    if (depth >= 5) throw validationFailed(`Recursion depth exceeds 5.`);
    const nsv = Object.create(StackView.prototype) as StackView;
    const allFiles = { ...sv.files, ...files };
    const env = withTemplateFiles(nt, childEnvironment(sv.env, name), allFiles);
    const nestedName = `${sv.row.name}-${name}`;
    const params = await resolveParameters(nt, env, given,
      { name: nestedName, id: 'None', projectId, region: ctx.config?.region ?? 'RegionOne' });
    Object.assign(nsv, { rt, row: { ...sv.row, name: nestedName, id: 'None' }, t: nt, env, files: allFiles, params, rows: [],
      conditions: evaluateConditions(nt, params) });
    return previewResources(nsv, projectId, name, depth + 1);
  }

  /**
   * What a resource that owns a nested stack would create, without creating anything: its
   * handleCreate runs against a context whose nested.create records the definition and stops it.
   */
  async function nestedDefinitionOf(sv: StackView, name: string, plugin: ResourcePlugin, props: Record<string, any>): Promise<NestedStackDefinition | null> {
    let captured: NestedStackDefinition | null = null;
    const stop = new Error('preview: nested stack captured');
    const nope = async () => { throw new Error('not available in preview'); };
    const data: Record<string, string> = {};
    const r = {
      name, type: plugin.type, uuid: 'None',
      stack: { id: 'None', name: sv.row.name, projectId: sv.row.project_id, userId: sv.row.user_id, region: ctx.config?.region ?? 'RegionOne',
        publicUrl: ctx.config?.publicUrl ?? '', parentId: null, timeoutMins: null },
      properties: props, physicalId: null, setPhysicalId: async () => {}, data,
      setData: async (k: string, v: string | null) => { if (v === null) delete data[k]; else data[k] = v; },
      physicalName: () => `${sv.row.name}-${name}`, metadata: {}, setMetadata: async () => {},
      client: { request: nope, find: nope },
      nested: {
        create: async (def: NestedStackDefinition) => { captured = def; throw stop; },
        update: nope, delete: nope, status: async () => null, outputs: async () => ({}), resourceAttr: async () => null, resourceRefs: async () => ({}),
      },
      signals: async () => [], log: () => {}, cloud: ctx,
    } as unknown as ResourceContext;
    try { await plugin.handleCreate(r); } catch (e) { if (e !== stop) return null; }
    return captured;
  }

  function previewView(sv: StackView, r: ResourceRow | null, name: string, type: string, props: unknown): Record<string, unknown> {
    return {
      resource_name: name, resource_type: type, resource_action: r?.action ?? 'INIT', resource_status: r?.status ?? 'COMPLETE',
      resource_status_reason: r?.status_reason ?? '', physical_resource_id: r?.physical_id ?? '', resource_identity: {
        stack_name: sv.row.name, stack_id: sv.row.id, tenant: sv.row.project_id, path: `/resources/${name}`,
      }, stack_name: sv.row.name, properties: props ?? {}, required_by: [], description: '',
      creation_time: r?.created_at ?? null, updated_time: r?.updated_at ?? null,
    };
  }

  /**
   * show_nested of POST /validate: for each template resource its template's description and
   * parameters (Value: what the resource's properties give), and its own template resources' in turn.
   */
  async function nestedParameters(t: Template, env: Environment, files: Record<string, string>, params: Record<string, unknown>,
    stackName: string, depth = 0): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    if (depth > 10) return out;
    const fc = {
      template: t, params, files, conditions: evaluateConditions(t, params),
      getResource: () => null, getAttr: async () => null, getAllAttrs: async () => ({}),
    };
    for (const d of Object.values(t.resources)) {
      const plugin = rt.resolveType(d.type, d.name, env, files) as any;
      if (!plugin.nestedTemplate) continue;
      const nt: Template = plugin.nestedTemplate;
      let props: Record<string, unknown> = {};
      try { props = (await resolve(d.properties ?? {}, fc) as Record<string, unknown>) ?? {}; } catch { props = {}; }
      // Only the nested template's parameters take values; other properties are not its business here.
      const given = Object.fromEntries(Object.entries(props).filter(([k, v]) => k in nt.parameters && v !== null && v !== undefined));
      const nenv = childEnvironment(env, d.name);
      const view: Record<string, unknown> = {
        Description: nt.description || 'No description', Parameters: parametersView(nt, nenv, given), Type: d.type,
      };
      let nparams: Record<string, unknown> = {};
      try {
        nparams = await resolveParameters(nt, nenv, given, { name: `${stackName}-${d.name}`, id: 'None', projectId: '', region: '' },
          undefined, { validateValues: false });
      } catch { nparams = {}; }
      for (const k of Object.keys(nt.parameters)) if (!(k in nparams)) nparams[k] = null;
      const deeper = await nestedParameters(nt, nenv, files, nparams, `${stackName}-${d.name}`, depth + 1);
      if (Object.keys(deeper).length) view.NestedParameters = deeper;
      out[d.name] = view;
    }
    return out;
  }

  const engine: Engine = {
    register() {
      ctx.tasks.register(TASK_KIND, {
        run: async (task) => { await rt.drive(task.payload.stackId); },
        onFailure: async (task, err) => {
          // The operation itself failed (not a resource): record it on the stack.
          const row = await getStackRow(db, task.payload.stackId);
          if (!row || row.status !== 'IN_PROGRESS') return;
            await setStackState(db, row, row.action, 'FAILED', `${row.action} failed: ${(err as any)?.message ?? err}`);
        },
      });
    },

    halt() { rt.halted = true; },

    async settled(stackId, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const row = await getStackRow(db, stackId);
        if (!row) throw notFoundStack(stackId);
        if (row.status !== 'IN_PROGRESS') return stackRecord(row);
        if (Date.now() > deadline) throw new Error(`stack ${row.name} still ${row.action}_${row.status}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },

    create: (caller, req) => createOrAdopt(caller, req, 'CREATE'),

    async adopt(caller, req, adoptData) {
      const resources = (adoptData?.resources ?? {}) as Record<string, any>;
      const template = req.template && Object.keys(req.template).length ? req.template : (adoptData?.template as Record<string, unknown>) ?? {};
      return createOrAdopt(caller, { ...req, template, environment: req.environment ?? (adoptData?.environment as any) }, 'ADOPT', resources);
    },

    async preview(caller, req) {
      const env = requestEnv(req);
      const files = req.files ?? {};
      const p = await rt.prepare({
        template: req.template, env, files, given: { ...(req.parameters ?? {}) },
        stack: { name: req.stack_name, id: 'None', projectId: caller.projectId, region: ctx.config?.region ?? 'RegionOne' },
        owner: { userId: caller.userId, projectId: caller.projectId },
      });
      const sv = Object.create(StackView.prototype) as StackView;
      Object.assign(sv, { rt, t: p.t, env: p.env, files, params: p.params, rows: [], conditions: evaluateConditions(p.t, p.params),
        row: { id: 'None', name: req.stack_name, project_id: caller.projectId, user_id: caller.userId, parent_id: null } });
      return {
        stack_name: req.stack_name, id: 'None', disable_rollback: req.disable_rollback ?? true, parent: null,
        description: p.t.description, template_description: p.t.description || 'No description',
        parameters: Object.fromEntries(Object.entries(p.params).map(([k, v]) => [k, typeof v === 'string' ? v : toJson(v)])),
        resources: await previewResources(sv, caller.projectId, null),
        timeout_mins: req.timeout_mins ?? null, tags: req.tags ?? null, capabilities: [], notification_topics: [],
        stack_owner: caller.userId, stack_user_project_id: caller.projectId, creation_time: null, updated_time: null,
      };
    },

    async update(caller, stackId, req, opts) {
      const row = await ownedRow(caller, stackId);
      if (row.status === 'IN_PROGRESS') throw inProgress(row);
      const p = await updateInputs(row, req, opts.patch);
      await db.tx(async (t) => {
        const cur = (await getStackRow(t, stackId))!;
        if (cur.status === 'IN_PROGRESS' || cur.deleted_at) throw inProgress(cur);
        const opId = uuid();
        const tags = req.tags ?? (opts.patch ? fromJson<string[]>(cur.tags, []) : []);
        await t.run(`UPDATE heat_stacks SET prev_template = template, prev_environment = environment, prev_files = files,
          prev_parameters = parameters, prev_given_parameters = given_parameters,
          template = ?, environment = ?, files = ?, parameters = ?, given_parameters = ?, description = ?, tags = ?,
          disable_rollback = ?, timeout_mins = ?, operation_id = ?, operation = ?, cancel = 0 WHERE id = ?`,
        [toJson(p.t.raw), toJson(p.env), toJson(p.files), toJson(p.params), toJson(p.given), p.t.description ?? '', toJson(tags),
          (req.disable_rollback ?? Boolean(Number(cur.disable_rollback))) ? 1 : 0, req.timeout_mins ?? cur.timeout_mins,
          opId, toJson({ id: opId, action: 'UPDATE', startedAt: Date.now() }), stackId]);
        const sv = new StackView(rt, (await getStackRow(t, stackId))!);
        await rt.ensureRows(t, sv, sv.defs());
        await setStackState(t, cur, 'UPDATE', 'IN_PROGRESS', 'Stack UPDATE started');
        await enqueue(t, stackId);
      });
    },

    async previewUpdate(caller, stackId, req, opts) {
      const row = await ownedRow(caller, stackId);
      const p = await updateInputs(row, req, opts.patch);
      const cur = await load(stackId);
      const next = Object.create(StackView.prototype) as StackView;
      Object.assign(next, { rt, row: cur.row, t: p.t, env: p.env, files: p.files, params: p.params, rows: cur.rows, conditions: evaluateConditions(p.t, p.params) });
      const out: Record<string, unknown[]> = { added: [], deleted: [], replaced: [], unchanged: [], updated: [] };
      const defs = next.defs();
      for (const d of defs) {
        const r = cur.current(d.name);
        const plugin = next.plugin(d.type, d.name);
        let props: Record<string, any> = {};
        try { props = await next.resolveProperties(d, plugin); } catch { props = {}; }
        if (!r || r.action === 'INIT') { out.added.push(previewView(next, null, d.name, d.type, props)); continue; }
        const old = fromJson<Record<string, any>>(r.properties, {});
        const changed = [...new Set([...Object.keys(old), ...Object.keys(props)])].filter((k) => toJson(old[k]) !== toJson(props[k]));
        const view = previewView(next, r, d.name, d.type, props);
        if (r.type === d.type && !changed.length) out.unchanged.push(view);
        else if (r.type !== d.type || !plugin.handleUpdate || changed.some((k) => !plugin.properties[k]?.update_allowed && !(plugin as any).nestedTemplate && !plugin.acceptsAnyProperties)
          || plugin.needsReplace?.({ changed, oldProperties: old, newProperties: props })) out.replaced.push(view);
        else out.updated.push(view);
      }
      const names = new Set(defs.map((d) => d.name));
      for (const r of cur.rows) if (!r.replaced_by && !names.has(r.name)) out.deleted.push(previewView(cur, r, r.name, r.type, fromJson(r.properties, {})));
      return out;
    },

    async delete(caller, stackId) {
      const row = await ownedRow(caller, stackId);
      if (row.action === 'DELETE' && row.status === 'IN_PROGRESS') return;
      await db.tx(async (t) => {
        await rt.startOperation(t, stackId, 'DELETE');
        await enqueue(t, stackId);
      });
    },

    async abandon(caller, stackId) {
      const row = await ownedRow(caller, stackId);
      if (row.status === 'IN_PROGRESS') throw inProgress(row);
      const data = async (id: string): Promise<Record<string, unknown>> => {
        const sv = await load(id);
        const resources: Record<string, unknown> = {};
        for (const r of sv.rows) {
          if (r.replaced_by) continue;
          resources[r.name] = {
            name: r.name, resource_id: r.physical_id, type: r.type, action: r.action, status: r.status,
            metadata: fromJson(r.metadata, {}), resource_data: fromJson(r.data, {}),
            ...(r.nested_stack_id ? { resources: (await data(r.nested_stack_id)).resources } : {}),
          };
        }
        return {
          name: sv.row.name, id: sv.row.id, action: sv.row.action, status: sv.row.status, template: sv.t.raw,
          environment: sv.env, files: sv.files, project_id: sv.row.project_id, stack_user_project_id: sv.row.project_id,
          tags: fromJson(sv.row.tags, []), resources,
        };
      };
      const out = await data(stackId);
      // Forget the stack and its nested stacks, keep what they created.
      const ids = [stackId];
      for (let i = 0; i < ids.length; i++) {
        for (const c of await db.all<{ id: string }>('SELECT id FROM heat_stacks WHERE parent_id = ?', [ids[i]])) ids.push(c.id);
      }
      await db.tx(async (t) => {
        for (const id of ids) {
          await t.run("UPDATE heat_stacks SET action = 'ABANDON', status = 'COMPLETE', status_reason = 'Stack ABANDON completed successfully', deleted_at = ?, operation_id = NULL, operation = NULL WHERE id = ?", [new Date().toISOString(), id]);
          await t.run('DELETE FROM heat_resource_signals WHERE resource_uuid IN (SELECT uuid FROM heat_resources WHERE stack_id = ?)', [id]);
          await t.run('DELETE FROM heat_resources WHERE stack_id = ?', [id]);
        }
      });
      return out;
    },

    async cancelUpdate(caller, stackId, opts) {
      const row = await ownedRow(caller, stackId);
      const cancellable = row.status === 'IN_PROGRESS' && (row.action === 'UPDATE' || (row.action === 'CREATE' && !opts.rollback));
      if (!cancellable) {
        throw heatError(400, 'NotSupported', `Cancelling update when stack is ${row.action}_${row.status} is not supported.`);
      }
      await db.run('UPDATE heat_stacks SET cancel = ? WHERE id = ?', [opts.rollback ? 1 : 2, stackId]);
    },

    async action(caller, stackId, action) {
      const row = await ownedRow(caller, stackId);
      if (row.status === 'IN_PROGRESS') throw inProgress(row);
      const a = action.toUpperCase() as StackAction;
      await db.tx(async (t) => {
        await rt.startOperation(t, stackId, a);
        await enqueue(t, stackId);
      });
    },

    async find(caller, idOrName, opts = {}) {
      let row: StackRow | undefined;
      if (isUuid(idOrName)) row = await getStackRow(db, idOrName);
      if (!row) {
        const rows = await db.all<StackRow>('SELECT * FROM heat_stacks WHERE name = ? ORDER BY created_at DESC', [idOrName]);
        row = rows.find((r) => !r.deleted_at && r.project_id === caller.projectId)
          ?? (caller.isAdmin ? rows.find((r) => !r.deleted_at) : undefined)
          ?? (opts.showDeleted ? rows.find((r) => r.project_id === caller.projectId || caller.isAdmin) : undefined);
      }
      if (!row) return null;
      if (row.project_id !== caller.projectId && !caller.isAdmin) return null;
      if (row.deleted_at && !opts.showDeleted) return null;
      return stackRecord(row);
    },

    async list(caller, opts) {
      let rows = await visibleRows(caller, opts);
      if (opts.marker) {
        const i = rows.findIndex((r) => r.id === opts.marker);
        if (i < 0) throw heatError(404, 'EntityNotFound', `The Stack (${opts.marker}) could not be found.`);
        rows = rows.slice(i + 1);
      }
      if (opts.limit !== undefined) rows = rows.slice(0, opts.limit);
      return rows.map(stackRecord);
    },

    async count(caller, opts) {
      return (await visibleRows(caller, { ...opts, limit: undefined, marker: undefined })).length;
    },

    async outputs(stack) { return rt.outputs(await load(stack)); },

    async output(stack, key) {
      const sv = await load(stack);
      if (!sv.t.outputs[key]) throw heatError(404, 'NotFound', `Specified output key ${key} not found.`);
      const o = (await rt.outputs(sv)).find((x) => x.output_key === key);
      if (!o) throw heatError(404, 'NotFound', `Specified output key ${key} not found.`);
      return o;
    },

    async listResources(stack, opts) {
      const out: ResourceRecord[] = [];
      const walk = async (id: string, depth: number) => {
        const sv = await load(id);
        for (const r of topo(sv.rows)) {
          const rec = resourceRecord(sv, r, sv.rows);
          if (resourceMatches(rec, opts.filters)) out.push(rec);
          if (depth > 0 && r.nested_stack_id) {
            const child = await getStackRow(db, r.nested_stack_id);
            if (child && !child.deleted_at) await walk(r.nested_stack_id, depth - 1);
          }
        }
      };
      await walk(stack.id, opts.nestedDepth ?? 0);
      return out;
    },

    async getResource(stack, name) {
      const sv = await load(stack);
      const r = sv.current(name);
      if (!r) throw resourceNotFound(name, stack.name);
      return resourceRecord(sv, r, sv.rows);
    },

    async resourceAttributes(stack, name) {
      const sv = await load(stack);
      const r = sv.current(name);
      if (!r) throw resourceNotFound(name, stack.name);
      const p = sv.tryPlugin(r.type, r.name);
      const out: Record<string, unknown> = {};
      for (const a of Object.keys(p?.attributes ?? {})) {
        if (a === 'show') continue;
        try { out[a] = await rt.attribute(sv, r, a); } catch { out[a] = null; }
      }
      return out;
    },

    async markUnhealthy(caller, stack, name, unhealthy, reason) {
      await ownedRow(caller, stack.id);
      const sv = await load(stack);
      const r = sv.current(name);
      if (!r) throw resourceNotFound(name, stack.name);
      if (r.status === 'IN_PROGRESS') {
        throw heatError(400, 'ActionInProgress', `Resource ${name} is in progress; it cannot be marked unhealthy.`);
      }
      if (unhealthy) await setResourceState(db, r, 'CHECK', 'FAILED', reason || 'state changed by resource_mark_unhealthy');
      else if (r.action === 'CHECK' && r.status === 'FAILED') await setResourceState(db, r, 'CHECK', 'COMPLETE', reason || 'state changed by resource_mark_unhealthy');
    },

    async signal(stack, name, details) {
      const d = details as any;
      if (d && typeof d === 'object' && d.unset_hook) {
        await rt.clearHook(stack.id, name, d.unset_hook as HookType);
        return;
      }
      const sv = await load(stack);
      const r = sv.current(name);
      if (!r) throw resourceNotFound(name, stack.name);
      const plugin = sv.tryPlugin(r.type, r.name);
      if (!plugin?.handleSignal) throw heatError(400, 'ResourceActionNotSupported', 'signal is not supported for resource.');
      if ((r.action === 'DELETE' || r.action === 'SUSPEND') || r.action === 'INIT') {
        throw heatError(400, 'ResourceFailure', `Signal resource during ${r.action}`);
      }
      await db.run('INSERT INTO heat_resource_signals (id, resource_uuid, seq, details, created_at) VALUES (?, ?, ?, ?, ?)',
        [uuid(), r.uuid, nextSeq(), toJson(details ?? null), new Date().toISOString()]);
      await plugin.handleSignal(rt.rctx(sv, r), details);
      // A resource waiting for signals (wait conditions) is polled by its operation; nothing else to wake.
    },

    async events(stack, opts) {
      const stackIds: { id: string; name: string }[] = [{ id: stack.id, name: stack.name }];
      const depth = opts.nestedDepth ?? 0;
      let frontier = [stack.id];
      for (let d = 0; d < depth; d++) {
        const next: string[] = [];
        for (const id of frontier) {
          for (const c of await db.all<{ id: string; name: string }>('SELECT id, name FROM heat_stacks WHERE parent_id = ?', [id])) {
            stackIds.push(c); next.push(c.id);
          }
        }
        frontier = next;
      }
      let out: EventRecord[] = [];
      for (const s of stackIds) {
        const rows = await db.all('SELECT * FROM heat_events WHERE stack_id = ? ORDER BY seq', [s.id]);
        out.push(...rows.map((r) => Object.assign(eventRecord(r, s.name), { seq: Number(r.seq) })));
      }
      const f = opts.filters ?? {};
      out = out.filter((e) => (!opts.resourceName || e.resourceName === opts.resourceName)
        && filterMatch(e.resourceName, f.resource_name) && filterMatch(e.action, f.resource_action)
        && filterMatch(e.resourceType, f.resource_type)
        && (!(f.resource_status?.length) || f.resource_status.some((s) => s === e.status || s === `${e.action}_${e.status}`)));
      const keyOf = (e: any, k: string) => k === 'event_time' || k === 'created_at' || k === 'time' ? e.seq : e[k === 'resource_name' ? 'resourceName' : k === 'resource_type' ? 'resourceType' : k === 'resource_status' ? 'status' : k === 'resource_action' ? 'action' : 'seq'];
      const keys = opts.sortKeys?.length ? opts.sortKeys : ['event_time'];
      const dir = opts.sortDir === 'desc' ? -1 : 1;
      out.sort((a: any, b: any) => {
        for (const k of [...keys, 'seq']) {
          const x = keyOf(a, k), y = keyOf(b, k);
          if (x !== y) return (x < y ? -1 : 1) * dir;
        }
        return 0;
      });
      if (opts.marker) {
        const i = out.findIndex((e) => e.id === opts.marker);
        if (i < 0) throw heatError(404, 'EntityNotFound', `The Event (${opts.marker}) could not be found.`);
        out = out.slice(i + 1);
      }
      if (opts.limit !== undefined) out = out.slice(0, opts.limit);
      return out.map(({ seq, ...e }: any) => e as EventRecord);
    },

    async event(stack, resourceName, eventId) {
      const r = await db.get('SELECT * FROM heat_events WHERE id = ? AND stack_id = ?', [eventId, stack.id]);
      if (!r || r.resource_name !== resourceName) throw heatError(404, 'EntityNotFound', `The Event (${eventId}) could not be found.`);
      return eventRecord(r, stack.name);
    },

    clearHook: (stack, resourceName, hook) => rt.clearHook(stack.id, resourceName, hook),

    async validate(caller, req, opts) {
      const files = req.files ?? {};
      const given = { ...(req.parameters ?? {}) };
      const p = await rt.prepare({
        template: req.template, env: requestEnv(req), files, given, validateValues: false,
        stack: { name: 'validate', id: 'None', projectId: caller.projectId, region: ctx.config?.region ?? 'RegionOne' },
        owner: { userId: caller.userId, projectId: caller.projectId },
      });
      const { t, env } = p;
      const out: Record<string, unknown> = {
        Description: t.description || 'No description',
        Parameters: parametersView(t, env, given),
        Environment: env,
      };
      if (t.parameterGroups.length) out.ParameterGroups = t.parameterGroups;
      if (opts.showNested) {
        const nested = await nestedParameters(t, env, files, p.params, 'validate');
        if (Object.keys(nested).length) out.NestedParameters = nested;
      }
      return out;
    },

    template(stack) { return stack.template; },
    environment(stack) { return stack.environment; },
  };
  return engine;
}
