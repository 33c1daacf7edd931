// The converging side of the engine: a stack's operation (create, update, delete, rollback,
// adopt, check, suspend, resume) run as one durable task per top-level stack, nested stacks
// driven inline by their parent resource's polling. Everything an operation does is written
// before or as it happens, so a process killed at any point resumes from the rows: COMPLETE
// resources are kept, IN_PROGRESS ones are re-checked or re-found (findInterrupted).
import type { Context } from '../../core/service.ts';
import type { Queryable } from '../../core/db/index.ts';
import { fromJson, toJson } from '../../core/db/index.ts';
import { uuid, nowIso } from '../../core/ids.ts';
import type {
  ActionStatus, Environment, FunctionContext, HookType, NestedStackDefinition, NestedStacks, OpenStackClient,
  OutputRecord, PluginRegistry, ResourceContext, ResourceDefinition, ResourcePlugin, StackAction, Template, UpdateChange,
} from '../types.ts';
import { validationFailed, heatError } from '../types.ts';
import {
  parseTemplate, parseEnvironment, mergeEnvironments, resolveParameters, resolve, referencedResources,
  evaluateConditions, conditionHolds, validateProperties, validateFunctions, validateParameterGroups, replacedBy,
} from '../template/index.ts';
import {
  type Operation, type ResourceRow, type StackRow, addEvent, getResourceRow, getStackRow, nextSeq, randomSuffix,
  setResourceState, setStackState, stackResources,
} from './store.ts';

export const TASK_KIND = 'orchestration.stack';

export interface EngineDeps {
  registry: PluginRegistry;
  client: (owner: { userId: string; projectId: string }) => OpenStackClient;
}

type CustomCheck = (constraint: string, value: unknown) => Promise<string | null>;

/** Unwinds an operation without recording anything: a newer operation took over, or the engine stopped. */
export class Superseded extends Error {}
/** Fails the operation: cancelled by the user, or timed out. */
class Aborted extends Error {}
/** A resource failed; message is the resource's status reason. */
export class ResourceFailure extends Error {
  action: StackAction;
  constructor(action: StackAction, message: string) { super(message); this.action = action; }
}
/** A dependency failed, so this resource was not attempted. */
class Skipped extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "Type: resources.name: message", the way Heat writes a resource's failure. */
function failureReason(name: string, err: unknown): string {
  const e = err as any;
  const msg = e?.message ?? String(err);
  if (/^[A-Za-z]+: resources\./.test(msg)) return msg;
  const type = e?.extra?.name ?? (e?.name && e.name !== 'Error' ? e.name : 'Exception');
  return `${type}: resources.${name}: ${msg}`;
}

function hookList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map(String);
  return [];
}

/** fnmatch-style glob (only '*' and '?'), as Heat matches resource_registry resource names. */
function globMatch(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === name;
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(name);
}

/** The per-resource sections of resource_registry.resources that match a resource name. */
function resourceSections(env: Environment, name: string): Record<string, unknown>[] {
  const res = (env.resource_registry as any)?.resources;
  if (!res || typeof res !== 'object') return [];
  const out: Record<string, unknown>[] = [];
  for (const [k, v] of Object.entries(res)) if (v && typeof v === 'object' && globMatch(k, name)) out.push(v as Record<string, unknown>);
  return out;
}

export function hooksFor(env: Environment, name: string): string[] {
  return resourceSections(env, name).flatMap((s) => hookList(s.hooks));
}

/** The environment a nested stack owned by resource `name` inherits: the registry, with that resource's section as its resources. */
export function childEnvironment(env: Environment, name: string): Environment {
  const rr: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env.resource_registry ?? {})) if (k !== 'resources') rr[k] = v;
  const sub: Record<string, unknown> = {};
  for (const s of resourceSections(env, name)) {
    for (const [k, v] of Object.entries(s)) if (k !== 'hooks' && v && typeof v === 'object') sub[k] = v;
  }
  if (Object.keys(sub).length) rr.resources = sub;
  return { parameters: {}, parameter_defaults: { ...(env.parameter_defaults ?? {}) }, resource_registry: rr, event_sinks: [] };
}

/** A get_attr path applied to a value, as the template language does (missing → null). */
function selectIn(value: unknown, path: unknown[]): unknown {
  let cur = value;
  for (const key of path) {
    if (cur === null || cur === undefined) return null;
    if (Array.isArray(cur)) {
      let idx: number;
      if (typeof key === 'number') idx = key;
      else if (typeof key === 'string' && /^-?\d+$/.test(key.trim())) idx = parseInt(key, 10);
      else return null;
      if (idx < 0) idx += cur.length;
      if (!Number.isInteger(idx) || idx < 0 || idx >= cur.length) return null;
      cur = cur[idx];
    } else if (cur && typeof cur === 'object') {
      if (typeof key !== 'string' && typeof key !== 'number') return null;
      if (!(String(key) in cur)) return null;
      cur = (cur as Record<string, unknown>)[String(key)];
    } else return null;
  }
  return cur ?? null;
}

const TEMPLATE_FILE = /\.(ya?ml|template|json|hot)$|^https?:\/\/|^file:/;

const PARAM_TYPES: Record<string, any> = { string: 'string', number: 'number', json: 'json', comma_delimited_list: 'list', boolean: 'boolean' };

/** Names of the parameters a snippet reads (get_param, Ref), statically. */
function paramRefs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) { for (const x of v) paramRefs(x, out); return out; }
  if (!v || typeof v !== 'object') return out;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && (keys[0] === 'get_param' || keys[0] === 'Ref')) {
    const a = o[keys[0]];
    const name = Array.isArray(a) ? a[0] : a;
    if (typeof name === 'string') out.push(name);
  }
  for (const x of Object.values(o)) paramRefs(x, out);
  return out;
}

/**
 * The environment with each resource type that names a file of `files` registered as itself
 * ('nested.yaml': 'nested.yaml'), as Heat registers template resources: the environment a
 * stack shows (validate, GET .../environment) lists them.
 */
export function withTemplateFiles(t: Template, env: Environment, files: Record<string, string>): Environment {
  const rr = (env.resource_registry ?? {}) as Record<string, unknown>;
  const add: Record<string, string> = {};
  for (const d of Object.values(t.resources)) {
    if (typeof d.type === 'string' && typeof files[d.type] === 'string' && !(d.type in rr)) add[d.type] = d.type;
  }
  if (!Object.keys(add).length) return env;
  return { ...env, resource_registry: { ...rr, ...add } };
}

/** A template resource: a type naming a template file; the resource is a nested stack. */
function templatePlugin(file: string, source: string): ResourcePlugin & { nestedTemplate: Template } {
  let t: Template;
  try { t = parseTemplate(source); } catch (e: any) {
    throw validationFailed(`Failed to parse template file ${file}: ${e?.message ?? e}`);
  }
  const properties: ResourcePlugin['properties'] = {};
  for (const [k, p] of Object.entries(t.parameters)) {
    properties[k] = { type: PARAM_TYPES[p.type] ?? 'string', description: p.description, required: p.default === undefined, update_allowed: true, ...(p.default !== undefined ? { default: p.default } : {}) };
  }
  const attributes: ResourcePlugin['attributes'] = { 'OS::stack_id': { description: 'The nested stack id.' } };
  for (const [k, o] of Object.entries(t.outputs)) attributes[k] = { description: o.description ?? '' };
  const def = (r: ResourceContext): NestedStackDefinition => ({ template: t.raw, parameters: r.properties, files: undefined });
  const done = async (r: ResourceContext, action: StackAction): Promise<boolean> => {
    const id = r.physicalId;
    if (!id) return false;
    const st = await r.nested.status(id);
    if (!st) return action === 'DELETE';
    if (st.status === 'IN_PROGRESS') return false;
    if (st.status === 'FAILED') throw new Error(st.reason);
    if (action === 'DELETE') return st.action === 'DELETE';
    return true;
  };
  return {
    nestedTemplate: t,
    type: file,
    description: t.description,
    properties,
    attributes,
    async handleCreate(r) { await r.setPhysicalId(await r.nested.create(def(r))); },
    checkCreateComplete: (r) => done(r, 'CREATE'),
    async handleUpdate(r) { if (r.physicalId) await r.nested.update(r.physicalId, def(r)); },
    checkUpdateComplete: (r) => done(r, 'UPDATE'),
    async handleDelete(r) { if (r.physicalId) await r.nested.delete(r.physicalId); },
    async checkDeleteComplete(r) { return !r.physicalId || done(r, 'DELETE'); },
    async resolveAttribute(r, name) {
      if (!r.physicalId) return null;
      if (name === 'OS::stack_id') return r.physicalId;
      const outs = await (r.nested as NestedStacksX).outputRecords(r.physicalId);
      const o = outs.find((x) => x.output_key === name);
      if (!o) return null;
      if (o.output_error) throw new Error(`Error in ${r.name} output ${name}: ${o.output_error}`);
      return o.output_value;
    },
    refId: (r) => r.physicalId,
    pollMs: 50,
  };
}

interface NestedStacksX extends NestedStacks {
  outputRecords(stackId: string): Promise<OutputRecord[]>;
}

/** A stack loaded for an operation or a read: its template, environment and resolved parameters. */
export class StackView {
  row: StackRow;
  t: Template;
  env: Environment;
  files: Record<string, string>;
  params: Record<string, unknown>;
  conditions: Record<string, boolean>;
  rows: ResourceRow[] = [];
  rt: Runtime;
  constructor(rt: Runtime, row: StackRow) {
    this.rt = rt;
    this.row = row;
    this.t = parseTemplate(fromJson(row.template, {}));
    this.env = fromJson(row.environment, parseEnvironment({}));
    this.files = fromJson(row.files, {});
    this.params = fromJson(row.parameters, {});
    this.conditions = evaluateConditions(this.t, this.params);
  }

  static async load(rt: Runtime, q: Queryable, id: string): Promise<StackView | null> {
    const row = await getStackRow(q, id);
    if (!row) return null;
    const sv = new StackView(rt, row);
    await sv.reload(q);
    return sv;
  }

  async reload(q: Queryable = this.rt.ctx.db) { this.rows = await stackResources(q, this.row.id); }

  /** The resource rows in use: for a replaced resource the replacement. */
  current(name: string): ResourceRow | undefined {
    return this.rows.find((r) => r.name === name && !r.replaced_by);
  }

  /** Definitions whose condition holds. */
  defs(): ResourceDefinition[] {
    return Object.values(this.t.resources).filter((d) => d.condition === undefined || d.condition === null
      || conditionHolds(d.condition, this.conditions, this.t, this.params));
  }

  /** Names each definition depends on (depends_on and references in properties/metadata). */
  graph(defs = this.defs()): Map<string, string[]> {
    const names = new Set(defs.map((d) => d.name));
    const g = new Map<string, string[]>();
    for (const d of defs) {
      const deps = new Set<string>(d.dependsOn);
      for (const n of referencedResources(d.properties, this.t)) deps.add(n);
      for (const n of referencedResources(d.metadata, this.t)) deps.add(n);
      deps.delete(d.name);
      g.set(d.name, [...deps].filter((n) => names.has(n)));
    }
    return g;
  }

  plugin(type: string, name: string): ResourcePlugin {
    return this.rt.resolveType(type, name, this.env, this.files);
  }

  tryPlugin(type: string, name: string): ResourcePlugin | undefined {
    try { return this.plugin(type, name); } catch { return undefined; }
  }

  fc(opts: { preview?: boolean } = {}): FunctionContext {
    const getRow = (name: string) => this.current(name);
    const sv = this;
    return {
      template: this.t, params: this.params, files: this.files, conditions: this.conditions,
      getResource(name) {
        const row = getRow(name);
        if (!row) return opts.preview ? name : null;
        const p = sv.tryPlugin(row.type, name);
        const ref = p?.refId ? p.refId(sv.rt.rctx(sv, row)) : row.physical_id;
        return ref ?? (opts.preview ? name : null);
      },
      async getAttr(name, attribute) {
        const row = getRow(name);
        if (!row) return null;
        return sv.rt.attribute(sv, row, attribute);
      },
      async getAttrPath(name, attribute, path) {
        const row = getRow(name);
        if (!row) return null;
        return sv.rt.attribute(sv, row, attribute, path);
      },
      async getAllAttrs(name) {
        const row = getRow(name);
        if (!row) return {};
        const p = sv.tryPlugin(row.type, name);
        const out: Record<string, unknown> = {};
        for (const a of Object.keys(p?.attributes ?? {})) {
          if (a === 'show') continue;
          try { out[a] = await sv.rt.attribute(sv, row, a); } catch { out[a] = null; }
        }
        return out;
      },
    };
  }

  /** Resolves and validates a definition's properties against the plugin's schema. */
  async resolveProperties(d: ResourceDefinition, plugin: ResourcePlugin, check?: CustomCheck): Promise<Record<string, any>> {
    const fc = this.fc();
    const raw = await resolve(d.properties ?? {}, fc) as Record<string, unknown>;
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw ?? {})) if (v !== null && v !== undefined) values[k] = v;
    if ((plugin as any).nestedTemplate) return checkTemplateProperties(plugin, values, d.name, this.env);
    if (plugin.acceptsAnyProperties) return values;
    return validateProperties(plugin.properties, values, `resources.${d.name}.properties`, check);
  }
}

/**
 * Template resources: the nested template's parameters check the values; here only names and
 * presence. A parameter the environment's parameter_defaults give is not required (the nested
 * stack inherits them, as in Heat).
 */
function checkTemplateProperties(plugin: ResourcePlugin, values: Record<string, unknown>, name: string, env: Environment) {
  for (const k of Object.keys(values)) {
    if (!plugin.properties[k]) throw validationFailed(`Property error: resources.${name}.properties: Unknown Property ${k}`);
  }
  const defaults = env.parameter_defaults ?? {};
  for (const [k, s] of Object.entries(plugin.properties)) {
    if (s.required && values[k] === undefined && !(k in defaults)) throw validationFailed(`Property error: resources.${name}.properties: Property ${k} not assigned`);
  }
  return values;
}

export class Runtime {
  ctx: Context;
  deps: EngineDeps;
  /** Set when the engine is stopped: every step unwinds without writing (a kill, for tests). */
  halted = false;
  /** Stacks being driven in this process, by id. */
  private driving = new Map<string, Promise<void>>();
  private templatePlugins = new Map<string, ResourcePlugin>();
  private checks = new Map<string, Promise<CustomCheck | undefined>>();

  constructor(ctx: Context, deps: EngineDeps) {
    this.ctx = ctx;
    this.deps = deps;
  }

  /** The custom constraint checker (resources/constraints.ts) for a stack owner, when available. */
  async customCheck(owner: { userId: string; projectId: string }): Promise<CustomCheck | undefined> {
    const key = `${owner.userId}:${owner.projectId}`;
    let p = this.checks.get(key);
    if (!p) {
      p = import('../resources/constraints.ts').then((m: any) => m.customCheck?.(this.deps.client(owner)), () => undefined);
      this.checks.set(key, p);
    }
    return p;
  }

  /** Resource type → plugin, through the environment's mappings and template files. */
  resolveType(type: string, name: string, env: Environment, files: Record<string, string>): ResourcePlugin {
    let t = type;
    const rr = (env.resource_registry ?? {}) as Record<string, unknown>;
    for (let i = 0; i < 10; i++) {
      let mapped: string | undefined;
      for (const s of resourceSections(env, name)) if (typeof s[t] === 'string') mapped = s[t] as string;
      if (mapped === undefined && typeof rr[t] === 'string') mapped = rr[t] as string;
      if (mapped === undefined) {
        for (const [k, v] of Object.entries(rr)) {
          if (typeof v === 'string' && k.endsWith('*') && t.startsWith(k.slice(0, -1))) {
            mapped = v.endsWith('*') ? v.slice(0, -1) + t.slice(k.length - 1) : v;
            break;
          }
        }
      }
      if (mapped === undefined || mapped === t) break;
      t = mapped;
    }
    const plugin = this.deps.registry.get(t);
    if (plugin) return plugin;
    if (typeof files[t] === 'string') {
      const key = `${t}\0${files[t]}`;
      let p = this.templatePlugins.get(key);
      if (!p) { p = templatePlugin(t, files[t]); this.templatePlugins.set(key, p); }
      return p;
    }
    if (TEMPLATE_FILE.test(t)) throw validationFailed(`Could not fetch remote template "${t}": the file is not in files.`);
    throw validationFailed(`The Resource Type (${type}) could not be found.`);
  }

  /**
   * A resource's attribute, with the get_attr path after its name applied: by the plugin when it
   * resolves paths itself (groups selecting inside their members), here otherwise.
   */
  async attribute(sv: StackView, row: ResourceRow, attribute: string, path: unknown[] = []): Promise<unknown> {
    const p = sv.tryPlugin(row.type, row.name);
    if (!p) return null;
    const byPath = attribute !== 'show' && !p.attributes[attribute] && p.resolveAttributePath;
    if (attribute !== 'show' && !p.attributes[attribute] && !(p as any).nestedTemplate && !byPath) {
      throw validationFailed(`The Referenced Attribute (${row.name} ${attribute}) is incorrect.`, 'InvalidTemplateAttribute');
    }
    if (!row.physical_id && !row.nested_stack_id && row.action === 'INIT') return null;
    const r = this.rctx(sv, row);
    if (attribute === 'show') return selectIn(p.show ? await p.show(r) : null, path);
    if (p.resolveAttributePath) return p.resolveAttributePath(r, attribute, path);
    return selectIn(await p.resolveAttribute(r, attribute), path);
  }

  private checkHalted() { if (this.halted) throw new Superseded('engine stopped'); }

  /** The context a plugin call gets, from the row (properties: the given ones or as last applied). */
  rctx(sv: StackView, row: ResourceRow, properties?: Record<string, any>, previous?: Record<string, any>): ResourceContext {
    const rt = this;
    const db = this.ctx.db;
    const stack = sv.row;
    const data = fromJson<Record<string, string>>(row.data, {});
    let metadata = fromJson<unknown>(row.metadata, {});
    const owner = { userId: stack.user_id, projectId: stack.project_id };
    const r: ResourceContext & { data: Record<string, string> } = {
      name: row.name, type: row.type, uuid: row.uuid,
      stack: {
        id: stack.id, name: stack.name, projectId: stack.project_id, userId: stack.user_id,
        region: this.ctx.config?.region ?? 'RegionOne', publicUrl: this.ctx.config?.publicUrl ?? '', parentId: stack.parent_id,
        timeoutMins: stack.timeout_mins === null || stack.timeout_mins === undefined ? null : Number(stack.timeout_mins),
      },
      properties: properties ?? fromJson(row.properties, {}),
      get physicalId() { return row.physical_id; },
      async setPhysicalId(id) {
        rt.checkHalted();
        await db.run('UPDATE heat_resources SET physical_id = ?, updated_at = ? WHERE uuid = ?', [id, nowIso(), row.uuid]);
        row.physical_id = id;
      },
      data,
      async setData(key, value) {
        rt.checkHalted();
        await db.tx(async (t) => {
          const cur = await t.get<{ data: string }>('SELECT data FROM heat_resources WHERE uuid = ?', [row.uuid]);
          const d = fromJson<Record<string, string>>(cur?.data, {});
          if (value === null) delete d[key]; else d[key] = value;
          await t.run('UPDATE heat_resources SET data = ? WHERE uuid = ?', [toJson(d), row.uuid]);
          if (value === null) delete data[key]; else data[key] = value;
          row.data = toJson(d);
        });
      },
      physicalName: () => row.physical_name,
      get metadata() { return metadata; },
      async setMetadata(value) {
        rt.checkHalted();
        await db.run('UPDATE heat_resources SET metadata = ? WHERE uuid = ?', [toJson(value), row.uuid]);
        metadata = value;
        row.metadata = toJson(value);
      },
      client: this.deps.client(owner),
      nested: this.nestedFor(sv, row),
      async signals() {
        const rows = await db.all<{ details: string }>('SELECT details FROM heat_resource_signals WHERE resource_uuid = ? ORDER BY seq', [row.uuid]);
        return rows.map((s) => fromJson(s.details, null));
      },
      ...(previous ? { previousProperties: previous } : {}),
      log: (msg) => this.ctx.log?.info?.(`heat ${stack.name}/${row.name}: ${msg}`),
      cloud: this.ctx,
    };
    return r;
  }

  // ------------------------------------------------------------------ nested stacks

  private nestedFor(sv: StackView, row: ResourceRow): NestedStacksX {
    const rt = this;
    const db = this.ctx.db;
    return {
      async create(def) {
        rt.checkHalted();
        const existing = await db.get<{ id: string }>(
          'SELECT id FROM heat_stacks WHERE parent_id = ? AND owner_resource = ? AND deleted_at IS NULL AND id = COALESCE(?, id) ORDER BY created_at DESC',
          [sv.row.id, row.name, row.nested_stack_id]);
        if (existing) return existing.id;
        const id = uuid();
        const prepared = await rt.prepareNested(sv, row, def, id);
        const timing = nestedTiming(sv.row, def);
        await db.tx(async (t) => {
          await rt.insertStack(t, prepared, {
            id, name: `${sv.row.name}-${row.name}-${randomSuffix(12)}`, projectId: sv.row.project_id, userId: sv.row.user_id,
            parentId: sv.row.id, ownerResource: row.name, action: 'CREATE', timeoutMins: timing.timeoutMins, deadline: timing.deadline,
            disableRollback: true, tags: [],
          });
          await t.run('UPDATE heat_resources SET nested_stack_id = ? WHERE uuid = ?', [id, row.uuid]);
          await rt.driveOutsideParent(t, sv.row.id, id);
        });
        row.nested_stack_id = id;
        return id;
      },
      async update(stackId, def) {
        rt.checkHalted();
        const nrow = await getStackRow(db, stackId);
        if (!nrow || nrow.deleted_at) throw new Error(`nested stack ${stackId} not found`);
        const prepared = await rt.prepareNested(sv, row, def, stackId);
        const timing = nestedTiming(sv.row, def);
        await db.tx(async (t) => {
          const opId = uuid();
          const op: Operation = { id: opId, action: 'UPDATE', startedAt: Date.now(), deadline: timing.deadline };
          await t.run(`UPDATE heat_stacks SET prev_template = template, prev_environment = environment, prev_files = files,
            prev_parameters = parameters, prev_given_parameters = given_parameters,
            template = ?, environment = ?, files = ?, parameters = ?, given_parameters = ?, description = ?, timeout_mins = ?,
            operation_id = ?, operation = ?, cancel = 0 WHERE id = ?`,
          [toJson(prepared.t.raw), toJson(prepared.env), toJson(prepared.files), toJson(prepared.params), toJson(prepared.given),
            prepared.t.description ?? '', timing.timeoutMins, opId, toJson(op), stackId]);
          await setStackState(t, nrow, 'UPDATE', 'IN_PROGRESS', 'Stack UPDATE started');
          await rt.driveOutsideParent(t, sv.row.id, stackId);
        });
        rt.drive(stackId).catch(() => {});
      },
      async delete(stackId) {
        rt.checkHalted();
        await db.tx(async (t) => {
          await rt.startOperation(t, stackId, 'DELETE');
          await rt.driveOutsideParent(t, sv.row.id, stackId);
        });
        rt.drive(stackId).catch(() => {});
      },
      async status(stackId) {
        const nrow = await getStackRow(db, stackId);
        if (!nrow || nrow.deleted_at) return null;
        if (nrow.status === 'IN_PROGRESS') rt.drive(stackId).catch(() => {});
        return { action: nrow.action, status: nrow.status, reason: nrow.status_reason };
      },
      async outputs(stackId) {
        const out: Record<string, unknown> = {};
        for (const o of await this.outputRecords(stackId)) out[o.output_key] = o.output_value;
        return out;
      },
      async outputRecords(stackId) {
        const nsv = await StackView.load(rt, db, stackId);
        return nsv ? rt.outputs(nsv) : [];
      },
      async resourceAttr(stackId, resource, attribute) {
        const nsv = await StackView.load(rt, db, stackId);
        const r = nsv?.current(resource);
        return nsv && r ? rt.attribute(nsv, r, attribute) : null;
      },
      async resourceRefs(stackId) {
        const nsv = await StackView.load(rt, db, stackId);
        const out: Record<string, string | null> = {};
        if (!nsv) return out;
        const fc = nsv.fc();
        for (const r of nsv.rows) if (!r.replaced_by) out[r.name] = fc.getResource(r.name);
        return out;
      },
    };
  }

  private async prepareNested(sv: StackView, row: ResourceRow, def: NestedStackDefinition, id: string) {
    const env = mergeEnvironments(childEnvironment(sv.env, row.name), def.environment ?? {});
    return this.prepare({
      template: def.template, env, files: { ...sv.files, ...(def.files ?? {}) }, given: def.parameters ?? {},
      stack: { name: `${sv.row.name}-${row.name}`, id, projectId: sv.row.project_id, region: this.ctx.config?.region ?? 'RegionOne' },
      owner: { userId: sv.row.user_id, projectId: sv.row.project_id },
    });
  }

  // ------------------------------------------------------------------ validation and storing

  /** Parses and validates a stack's inputs; throws 400s. */
  async prepare(a: {
    template: Record<string, unknown>; env: Environment; files: Record<string, string>; given: Record<string, unknown>;
    stack: { name: string; id: string; projectId: string; region: string }; owner: { userId: string; projectId: string };
    validateValues?: boolean;
  }) {
    const t = parseTemplate(a.template);
    validateParameterGroups(t);
    validateFunctions(t, { files: a.files } as any);
    const check = await this.customCheck(a.owner);
    const validateValues = a.validateValues ?? true;
    const params = await resolveParameters(t, a.env, a.given, a.stack, check, { validateValues });
    // POST /validate checks a template without its parameter values: get_param of a parameter
    // without one is null there, and the properties it feeds are not checked.
    const unset = new Set<string>();
    if (!validateValues) {
      for (const name of Object.keys(t.parameters)) if (!(name in params)) { params[name] = null; unset.add(name); }
    }
    const env = withTemplateFiles(t, a.env, a.files);
    const prepared = { t, env, files: a.files, params, given: a.given };
    await this.validateResources({ ...prepared, unset }, check, a.owner);
    if (unset.size) for (const name of unset) delete params[name];
    return prepared;
  }

  /** Every resource's type is known and its properties (those not referring to other resources) fit the schema. */
  async validateResources(p: { t: Template; env: Environment; files: Record<string, string>; params: Record<string, unknown>; unset?: Set<string> },
    check?: CustomCheck, owner = { userId: '', projectId: '' }) {
    const conditions = evaluateConditions(p.t, p.params);
    const names = new Set(Object.keys(p.t.resources));
    const fc: FunctionContext = {
      template: p.t, params: p.params, files: p.files, conditions,
      getResource: () => null, getAttr: async () => null, getAllAttrs: async () => ({}),
    };
    for (const d of Object.values(p.t.resources)) {
      for (const dep of d.dependsOn) {
        if (!names.has(dep)) throw validationFailed(`resources.${d.name}: The specified reference "${dep}" (in ${d.name}) is incorrect.`, 'InvalidTemplateReference');
      }
      if (d.condition !== undefined && d.condition !== null && !conditionHolds(d.condition, conditions, p.t, p.params)) continue;
      const plugin = this.resolveType(d.type, d.name, p.env, p.files);
      const props = (d.properties ?? {}) as Record<string, unknown>;
      const values: Record<string, unknown> = {};
      const schema = { ...plugin.properties };
      const propertyError = (k: string, e: any) => {
        const msg = e?.message ?? String(e);
        return validationFailed(msg.startsWith('Property error') ? msg : `Property error: : resources.${d.name}.properties.${k}: : ${msg}`);
      };
      for (const [k, v] of Object.entries(props)) {
        // Not known yet (resources not created, parameter values not given to validate): only a
        // missing parameter is reported now.
        if (schema[k] && (referencedResources(v, p.t).size || (p.unset?.size && paramRefs(v).some((n) => p.unset!.has(n))))) {
          delete schema[k];
          // A deprecated name stands for its replacement, which is then not known yet either.
          const target = replacedBy(plugin.properties[k], plugin.properties);
          if (target && !(target in props)) delete schema[target];
          try { await resolve(v, fc); } catch (e: any) { if (e?.extra?.name === 'UserParameterMissing') throw propertyError(k, e); }
          continue;
        }
        let rv: unknown;
        try { rv = await resolve(v, fc); } catch (e: any) { throw propertyError(k, e); }
        if (rv !== null && rv !== undefined) values[k] = rv;
      }
      if ((plugin as any).nestedTemplate) {
        checkTemplateProperties({ ...plugin, properties: schema }, values, d.name, p.env);
        continue;
      }
      if (plugin.acceptsAnyProperties) continue;
      const resolved = await validateProperties(schema, values, `resources.${d.name}.properties`, check);
      if (plugin.validate && Object.keys(schema).length === Object.keys(plugin.properties).length) {
        await plugin.validate(resolved, { client: this.deps.client(owner) });
      }
    }
    this.checkCycles(p.t, Object.values(p.t.resources));
  }

  private checkCycles(t: Template, defs: ResourceDefinition[]) {
    const g = new Map<string, string[]>();
    for (const d of defs) g.set(d.name, [...new Set([...d.dependsOn, ...referencedResources(d.properties, t), ...referencedResources(d.metadata, t)])].filter((n) => n !== d.name && t.resources[n]));
    const state = new Map<string, number>();
    const visit = (n: string, path: string[]) => {
      if (state.get(n) === 2) return;
      if (state.get(n) === 1) throw validationFailed(`Circular Dependency Found: ${[...path.slice(path.indexOf(n)), n].join(' -> ')}`, 'CircularDependencyException');
      state.set(n, 1);
      for (const m of g.get(n) ?? []) visit(m, [...path, n]);
      state.set(n, 2);
    };
    for (const n of g.keys()) visit(n, []);
  }

  /** Writes a new stack row (and its resources as INIT_COMPLETE) in the caller's transaction. */
  async insertStack(t: Queryable, p: { t: Template; env: Environment; files: Record<string, string>; params: Record<string, unknown>; given: Record<string, unknown> },
    s: { id: string; name: string; projectId: string; userId: string; parentId: string | null; ownerResource: string | null;
      action: StackAction; timeoutMins: number | null; deadline?: number | null; disableRollback: boolean; tags: string[]; adopt?: Record<string, any> }) {
    const opId = uuid();
    const op: Operation = { id: opId, action: s.action, startedAt: Date.now(), ...(s.deadline ? { deadline: s.deadline } : {}), ...(s.adopt ? { adopt: s.adopt } : {}) };
    const ts = nowIso();
    await t.run(`INSERT INTO heat_stacks (id, name, project_id, user_id, parent_id, owner_resource, action, status, status_reason, description,
      template, environment, files, parameters, given_parameters, disable_rollback, timeout_mins, tags, cancel, operation_id, operation, created_at)
      VALUES (?, ?, ?, ?, ?, ?, 'INIT', 'COMPLETE', '', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
    [s.id, s.name, s.projectId, s.userId, s.parentId, s.ownerResource, p.t.description ?? '', toJson(p.t.raw), toJson(p.env), toJson(p.files),
      toJson(p.params), toJson(p.given), s.disableRollback ? 1 : 0, s.timeoutMins, toJson(s.tags), opId, toJson(op), ts]);
    const sv = new StackView(this, (await getStackRow(t, s.id))!);
    await this.ensureRows(t, sv, sv.defs());
    await setStackState(t, { id: s.id, name: s.name }, s.action, 'IN_PROGRESS', `Stack ${s.action} started`);
    return opId;
  }

  /**
   * A nested stack operation started while its parent has none under way (a scaling policy's
   * signal resizing a group) has no parent polling it: it gets a durable task of its own.
   */
  async driveOutsideParent(t: Queryable, parentId: string, stackId: string) {
    const parent = await getStackRow(t, parentId);
    if (parent && parent.status === 'IN_PROGRESS' && parent.operation_id) return;
    await this.ctx.tasks.enqueue(t, TASK_KIND, { stackId }, { resourceId: stackId, maxAttempts: 50 });
  }

  /** Rows (INIT_COMPLETE) for definitions that have none yet, so they are listed before they are created. */
  async ensureRows(q: Queryable, sv: StackView, defs: ResourceDefinition[]) {
    const rows = await stackResources(q, sv.row.id);
    const ts = nowIso();
    for (const d of defs) {
      if (rows.some((r) => r.name === d.name && !r.replaced_by)) continue;
      await q.run(`INSERT INTO heat_resources (uuid, stack_id, name, type, action, status, status_reason, definition, data, metadata, requires, physical_name, created_at)
        VALUES (?, ?, ?, ?, 'INIT', 'COMPLETE', '', ?, '{}', ?, '[]', ?, ?)`,
      [uuid(), sv.row.id, d.name, d.type, toJson(d), toJson({}), physicalName(sv.row.name, d.name), ts]);
    }
  }

  /** Starts a new operation on a stack (superseding the one under way). */
  async startOperation(q: Queryable, stackId: string, action: StackAction, extra: Partial<Operation> = {}): Promise<string> {
    const opId = uuid();
    await q.tx(async (t) => {
      const row = await getStackRow(t, stackId);
      if (!row) return;
      const op: Operation = { id: opId, action, startedAt: Date.now(), ...extra };
      await t.run('UPDATE heat_stacks SET operation_id = ?, operation = ?, cancel = 0 WHERE id = ?', [opId, toJson(op), stackId]);
      await setStackState(t, row, action, 'IN_PROGRESS', `Stack ${action} started`);
    });
    return opId;
  }

  // ------------------------------------------------------------------ driving operations

  /** Runs whatever operation the stack has under way to its end (once per stack in this process). */
  drive(stackId: string): Promise<void> {
    let p = this.driving.get(stackId);
    if (!p) {
      p = this.driveLoop(stackId).finally(() => this.driving.delete(stackId));
      this.driving.set(stackId, p);
    }
    return p;
  }

  private async driveLoop(stackId: string) {
    for (;;) {
      this.checkHalted();
      const sv = await StackView.load(this, this.ctx.db, stackId);
      if (!sv || sv.row.deleted_at || sv.row.status !== 'IN_PROGRESS' || !sv.row.operation) return;
      const op = fromJson<Operation>(sv.row.operation, null as any);
      try {
        await this.runOperation(sv, op);
      } catch (e) {
        if (e instanceof Superseded) {
          if (this.halted) throw e;
          continue; // a newer operation took over: drive that one
        }
        throw e;
      }
    }
  }

  /** Throws when the operation should stop: superseded, halted, cancelled or timed out. */
  private async guard(sv: StackView, op: Operation) {
    this.checkHalted();
    const row = await getStackRow(this.ctx.db, sv.row.id);
    if (!row || row.operation_id !== op.id || row.deleted_at) throw new Superseded('operation superseded');
    if (Number(row.cancel)) throw new Aborted(`Stack ${op.action} cancelled`);
    // Another resource of this operation failed: stop waiting for the rest.
    if ((op as any).failing) throw new Aborted('cancelled');
    const deadline = operationDeadline(row, op);
    if (deadline !== null && Date.now() > deadline) throw new Aborted('Timed out');
  }

  /** Writes the end of an operation, unless a newer one has taken over meanwhile. */
  private async finish(sv: StackView, op: Operation, fn: (t: Queryable, row: StackRow) => Promise<void>) {
    this.checkHalted();
    await this.ctx.db.tx(async (t) => {
      const row = await getStackRow(t, sv.row.id);
      if (!row || row.operation_id !== op.id) throw new Superseded('operation superseded');
      await fn(t, row);
    });
  }

  private async runOperation(sv: StackView, op: Operation) {
    const action = op.action;
    try {
      if (action === 'DELETE' || (action === 'ROLLBACK' && op.rollbackOf === 'CREATE') || (action === 'ROLLBACK' && op.rollbackOf === 'ADOPT')) {
        await this.removeAll(sv, op);
        await this.finish(sv, op, async (t, row) => {
          if (action === 'DELETE') {
            await setStackState(t, row, 'DELETE', 'COMPLETE', 'Stack DELETE completed successfully');
            await t.run('UPDATE heat_stacks SET deleted_at = ?, operation = NULL WHERE id = ?', [nowIso(), row.id]);
          } else {
            await setStackState(t, row, 'ROLLBACK', 'COMPLETE', 'Stack ROLLBACK completed successfully');
          }
        });
        return;
      }
      if (action === 'CHECK' || action === 'SUSPEND' || action === 'RESUME') {
        await this.runAction(sv, op);
        await this.finish(sv, op, (t, row) => setStackState(t, row, action, 'COMPLETE', `Stack ${action} completed successfully`));
        return;
      }
      await this.converge(sv, op);
      await this.finish(sv, op, (t, row) => setStackState(t, row, action, 'COMPLETE', `Stack ${action} completed successfully`));
    } catch (e) {
      if (e instanceof Superseded) throw e;
      const reason = e instanceof ResourceFailure ? `Resource ${e.action} failed: ${e.message}`
        : e instanceof Aborted ? e.message : `${action} failed: ${(e as any)?.message ?? e}`;
      const cancelled = e instanceof Aborted && e.message.endsWith('cancelled');
      const cancelFlag = Number((await getStackRow(this.ctx.db, sv.row.id))?.cancel ?? 0);
      const rollback = ['CREATE', 'UPDATE', 'ADOPT'].includes(action)
        && (cancelled ? cancelFlag === 1 : !Number(sv.row.disable_rollback));
      await this.finish(sv, op, async (t, row) => {
        await setStackState(t, row, action, 'FAILED', reason);
        if (!rollback) return;
        const opId = uuid();
        const next: Operation = { id: opId, action: 'ROLLBACK', rollbackOf: action, startedAt: Date.now() };
        if (action === 'UPDATE') {
          await t.run(`UPDATE heat_stacks SET template = COALESCE(prev_template, template), environment = COALESCE(prev_environment, environment),
            files = COALESCE(prev_files, files), parameters = COALESCE(prev_parameters, parameters),
            given_parameters = COALESCE(prev_given_parameters, given_parameters) WHERE id = ?`, [row.id]);
        }
        await t.run('UPDATE heat_stacks SET operation_id = ?, operation = ?, cancel = 0 WHERE id = ?', [opId, toJson(next), row.id]);
        await setStackState(t, row, 'ROLLBACK', 'IN_PROGRESS', 'Stack ROLLBACK started');
      });
    }
  }

  /** Brings the resources to the stack's template: creates, updates or replaces in dependency order, then removes the rest. */
  private async converge(sv: StackView, op: Operation) {
    const defs = sv.defs();
    await this.ensureRows(this.ctx.db, sv, defs);
    await sv.reload();
    const graph = sv.graph(defs);
    const done = new Map<string, Promise<void>>();
    let firstFailure: unknown = null;
    const run = (d: ResourceDefinition): Promise<void> => {
      let p = done.get(d.name);
      if (p) return p;
      p = (async () => {
        const deps = graph.get(d.name) ?? [];
        const results = await Promise.allSettled(deps.map((n) => run(defs.find((x) => x.name === n)!)));
        if (results.some((r) => r.status === 'rejected')) throw new Skipped(d.name);
        if (firstFailure) throw new Skipped(d.name);
        try {
          await this.ensureResource(sv, op, d, deps);
        } catch (e) {
          if (!firstFailure && !(e instanceof Skipped)) { firstFailure = e; (op as any).failing = true; }
          throw e;
        }
      })();
      done.set(d.name, p);
      return p;
    };
    await Promise.allSettled(defs.map(run));
    if (firstFailure) throw firstFailure;
    // Resources no longer in the template, and the ones replaced.
    await sv.reload();
    const keep = new Set(defs.map((d) => d.name));
    await this.removeRows(sv, op, sv.rows.filter((r) => r.replaced_by || !keep.has(r.name)));
  }

  private async ensureResource(sv: StackView, op: Operation, d: ResourceDefinition, deps: string[]) {
    await this.guard(sv, op);
    await sv.reload();
    let row = sv.current(d.name)!;
    let plugin: ResourcePlugin;
    let props: Record<string, any>;
    let metadata: unknown;
    const check = await this.customCheck({ userId: sv.row.user_id, projectId: sv.row.project_id });
    try {
      plugin = sv.plugin(d.type, d.name);
      props = await sv.resolveProperties(d, plugin, check);
      metadata = await resolve(d.metadata ?? {}, sv.fc());
    } catch (e) {
      if (e instanceof Superseded) throw e;
      const action = row.action === 'INIT' ? 'CREATE' : row.action === 'CREATE' && row.status !== 'COMPLETE' ? 'CREATE' : 'UPDATE';
      const reason = failureReason(d.name, e);
      await setResourceState(this.ctx.db, row, action, 'FAILED', reason);
      throw new ResourceFailure(action, reason);
    }
    const fileDef = (plugin as any).nestedTemplate ? sv.files[d.type] ?? null : null;
    const definition = toJson({ ...d, file: fileDef });
    const applied = { properties: toJson(props), definition, requires: toJson(deps), type: d.type };

    const fresh = row.action === 'INIT' || (row.action === 'CREATE' && row.status !== 'COMPLETE')
      || (row.action === 'ADOPT' && row.status !== 'COMPLETE') || row.action === 'DELETE';
    if (fresh) {
      await this.createResource(sv, op, row, plugin, props, metadata, applied);
      return;
    }
    // The resource exists: keep, update in place, or replace.
    if (op.action === 'UPDATE') await this.waitHook(sv, op, row, 'pre-update', 'UPDATE');
    const old = fromJson<Record<string, any>>(row.properties, {});
    const keys = new Set([...Object.keys(old), ...Object.keys(props)]);
    const changed = [...keys].filter((k) => toJson(old[k]) !== toJson(props[k]));
    const oldDef = fromJson<any>(row.definition, {});
    const defChanged = (oldDef.file ?? null) !== fileDef;
    const unhealthy = row.action === 'CHECK' && row.status === 'FAILED';
    if (!unhealthy && row.type === d.type && !changed.length && !defChanged && row.status === 'COMPLETE') {
      // Metadata follows the template only when the template's metadata changed (plugins may own it).
      if (toJson(oldDef.metadata ?? {}) !== toJson(d.metadata ?? {})) {
        await this.ctx.db.run('UPDATE heat_resources SET metadata = ?, definition = ?, requires = ? WHERE uuid = ?', [toJson(metadata), definition, applied.requires, row.uuid]);
      } else {
        await this.ctx.db.run('UPDATE heat_resources SET definition = ?, requires = ? WHERE uuid = ?', [definition, applied.requires, row.uuid]);
      }
      return;
    }
    const change: UpdateChange = { changed, oldProperties: old, newProperties: props };
    // Properties without a schema (template resources, OS::Heat::None) are updated in place.
    const replace = unhealthy || row.type !== d.type || !plugin.handleUpdate
      || changed.some((k) => !plugin.properties[k]?.update_allowed && !(plugin as any).nestedTemplate && !plugin.acceptsAnyProperties)
      || (plugin.needsReplace?.(change) ?? false);
    if (!replace) {
      await this.updateResource(sv, op, row, plugin, change, metadata, applied);
      return;
    }
    // Rolling back to the resource this one replaced: take the old one back instead of creating a third.
    const backup = sv.rows.find((r) => r.replaced_by === row.uuid && r.status === 'COMPLETE' && r.type === d.type
      && toJson(fromJson(r.properties, {})) === applied.properties);
    if (backup) {
      await this.ctx.db.tx(async (t) => {
        await t.run('UPDATE heat_resources SET replaced_by = NULL WHERE uuid = ?', [backup.uuid]);
        await t.run('UPDATE heat_resources SET replaced_by = ? WHERE uuid = ?', [backup.uuid, row.uuid]);
      });
      return;
    }
    const newId = uuid();
    await this.ctx.db.tx(async (t) => {
      await t.run(`INSERT INTO heat_resources (uuid, stack_id, name, type, action, status, status_reason, definition, data, metadata, requires, physical_name, replaces, created_at)
        VALUES (?, ?, ?, ?, 'INIT', 'COMPLETE', '', ?, '{}', ?, ?, ?, ?, ?)`,
      [newId, sv.row.id, d.name, d.type, definition, toJson({}), applied.requires, physicalName(sv.row.name, d.name), row.uuid, nowIso()]);
      await t.run('UPDATE heat_resources SET replaced_by = ? WHERE uuid = ?', [newId, row.uuid]);
    });
    await sv.reload();
    row = sv.current(d.name)!;
    await this.createResource(sv, op, row, plugin, props, metadata, applied, { noHook: true });
  }

  private async poll(sv: StackView, op: Operation, plugin: ResourcePlugin, fn: ((r: ResourceContext) => Promise<boolean>) | undefined, r: ResourceContext) {
    if (!fn) return;
    for (;;) {
      await this.guard(sv, op);
      if (await fn.call(plugin, r)) return;
      await sleep(plugin.pollMs ?? 200);
    }
  }

  /** A failure of a resource action: the row FAILED with Heat's reason (a stop unwinds as is). */
  private async failed(row: ResourceRow, action: StackAction, e: unknown): Promise<never> {
    if (e instanceof Superseded) throw e;
    const reason = e instanceof Aborted ? `${action} aborted (${e.message})` : failureReason(row.name, e);
    if (!this.halted) await setResourceState(this.ctx.db, row, action, 'FAILED', reason);
    if (e instanceof Aborted) throw e;
    throw new ResourceFailure(action, reason);
  }

  private async createResource(sv: StackView, op: Operation, row: ResourceRow, plugin: ResourcePlugin, props: Record<string, any>,
    metadata: unknown, applied: { properties: string; definition: string; requires: string; type: string }, o: { noHook?: boolean } = {}) {
    const db = this.ctx.db;
    const adopted = op.action === 'ADOPT' ? op.adopt?.[row.name] : undefined;
    if (row.action === 'DELETE' || (row.status === 'FAILED' && (row.physical_id || row.nested_stack_id))) {
      // A failed earlier attempt: clear what it left before trying again.
      await this.deleteBacking(sv, op, row, plugin);
      await db.run("UPDATE heat_resources SET physical_id = NULL, nested_stack_id = NULL, action = 'INIT', status = 'COMPLETE', data = '{}' WHERE uuid = ?", [row.uuid]);
      Object.assign(row, { physical_id: null, nested_stack_id: null, action: 'INIT', status: 'COMPLETE', data: '{}' });
    }
    if (adopted && adopted.resource_id) {
      try {
        await db.run('UPDATE heat_resources SET physical_id = ?, data = ?, metadata = ? WHERE uuid = ?',
          [String(adopted.resource_id), toJson(adopted.resource_data ?? {}), toJson(adopted.metadata ?? metadata ?? {}), row.uuid]);
        await setResourceState(db, row, 'ADOPT', 'COMPLETE', '', { extra: applied });
      } catch (e) { await this.failed(row, 'ADOPT', e); }
      return;
    }
    const resuming = row.action === 'CREATE' && row.status === 'IN_PROGRESS';
    if (!resuming && !o.noHook && op.action !== 'ROLLBACK') await this.waitHook(sv, op, row, 'pre-create', 'CREATE');
    try {
      if (!resuming) {
        await this.guard(sv, op);
        await db.run('UPDATE heat_resources SET metadata = ? WHERE uuid = ?', [toJson(metadata), row.uuid]);
        row.metadata = toJson(metadata);
        await setResourceState(db, row, 'CREATE', 'IN_PROGRESS', '', { extra: applied });
      }
      const r = this.rctx(sv, row, props);
      if (!resuming || (!row.physical_id && !row.nested_stack_id)) {
        let found: string | null = null;
        if (resuming && plugin.findInterrupted) found = await plugin.findInterrupted(r);
        if (found) await r.setPhysicalId(found);
        else if (resuming && row.nested_stack_id && !row.physical_id) await r.setPhysicalId(row.nested_stack_id);
        else {
          this.checkHalted();
          await plugin.handleCreate(r);
        }
      }
      await this.poll(sv, op, plugin, plugin.checkCreateComplete, r);
      await this.guard(sv, op);
      await setResourceState(db, row, 'CREATE', 'COMPLETE', '', { extra: applied });
    } catch (e) {
      await this.failed(row, 'CREATE', e);
    }
  }

  private async updateResource(sv: StackView, op: Operation, row: ResourceRow, plugin: ResourcePlugin, change: UpdateChange,
    metadata: unknown, applied: { properties: string; definition: string; requires: string; type: string }) {
    const db = this.ctx.db;
    try {
      await this.guard(sv, op);
      if (!(row.action === 'UPDATE' && row.status === 'IN_PROGRESS')) await setResourceState(db, row, 'UPDATE', 'IN_PROGRESS', '');
      await db.run('UPDATE heat_resources SET metadata = ? WHERE uuid = ?', [toJson(metadata), row.uuid]);
      row.metadata = toJson(metadata);
      const r = this.rctx(sv, row, change.newProperties, change.oldProperties);
      this.checkHalted();
      await plugin.handleUpdate!(r, change);
      await this.poll(sv, op, plugin, plugin.checkUpdateComplete, r);
      await this.guard(sv, op);
      await setResourceState(db, row, 'UPDATE', 'COMPLETE', '', { extra: applied });
    } catch (e) {
      await this.failed(row, 'UPDATE', e);
    }
  }

  /** Deletes rows, each after the rows (being deleted) that depend on it. */
  private async removeRows(sv: StackView, op: Operation, rows: ResourceRow[]) {
    const done = new Map<string, Promise<void>>();
    let firstFailure: unknown = null;
    const dependents = (r: ResourceRow) => rows.filter((o) => o !== r && fromJson<string[]>(o.requires, []).includes(r.name)
      && !(o.name === r.name));
    const run = (r: ResourceRow): Promise<void> => {
      let p = done.get(r.uuid);
      if (p) return p;
      p = (async () => {
        const res = await Promise.allSettled(dependents(r).map(run));
        if (res.some((x) => x.status === 'rejected') || firstFailure) throw new Skipped(r.name);
        try { await this.deleteResource(sv, op, r); } catch (e) {
          if (!firstFailure) { firstFailure = e; (op as any).failing = true; }
          throw e;
        }
      })();
      done.set(r.uuid, p);
      return p;
    };
    await Promise.allSettled(rows.map(run));
    if (firstFailure) throw firstFailure;
  }

  private async removeAll(sv: StackView, op: Operation) {
    await sv.reload();
    await this.removeRows(sv, op, sv.rows);
  }

  private async deleteBacking(sv: StackView, op: Operation, row: ResourceRow, plugin: ResourcePlugin | undefined) {
    if (!plugin) return;
    const r = this.rctx(sv, row);
    if (!row.physical_id && !row.nested_stack_id && plugin.findInterrupted) {
      const found = await plugin.findInterrupted(r);
      if (found) await r.setPhysicalId(found);
    }
    if (!row.physical_id && row.nested_stack_id) await r.setPhysicalId(row.nested_stack_id);
    this.checkHalted();
    await plugin.handleDelete(r);
    await this.poll(sv, op, plugin, plugin.checkDeleteComplete, r);
  }

  private async deleteResource(sv: StackView, op: Operation, row: ResourceRow) {
    const db = this.ctx.db;
    await this.guard(sv, op);
    const untouched = row.action === 'INIT' && !row.physical_id && !row.nested_stack_id;
    if (!untouched && !(row.action === 'DELETE' && row.status === 'COMPLETE')) {
      if (op.action === 'DELETE' && !(row.action === 'DELETE' && row.status === 'IN_PROGRESS')) await this.waitHook(sv, op, row, 'pre-delete', 'DELETE');
      const def = fromJson<any>(row.definition, {});
      try {
        if (!(row.action === 'DELETE' && row.status === 'IN_PROGRESS')) await setResourceState(db, row, 'DELETE', 'IN_PROGRESS', '');
        if (def.deletionPolicy !== 'Retain') await this.deleteBacking(sv, op, row, sv.tryPlugin(row.type, row.name));
        await this.guard(sv, op);
        await setResourceState(db, row, 'DELETE', 'COMPLETE', '');
      } catch (e) {
        await this.failed(row, 'DELETE', e);
      }
    }
    this.checkHalted();
    await db.tx(async (t) => {
      await t.run('DELETE FROM heat_resource_signals WHERE resource_uuid = ?', [row.uuid]);
      await t.run('DELETE FROM heat_resources WHERE uuid = ?', [row.uuid]);
      // The replacement no longer replaces anything.
      await t.run('UPDATE heat_resources SET replaces = NULL WHERE replaces = ?', [row.uuid]);
    });
  }

  /** Check, suspend (reverse order) and resume: each resource's handler, or just the state. */
  private async runAction(sv: StackView, op: Operation) {
    await sv.reload();
    const action = op.action as 'CHECK' | 'SUSPEND' | 'RESUME';
    const rows = sv.rows.filter((r) => !r.replaced_by && r.action !== 'INIT');
    const order = topo(rows);
    if (action === 'SUSPEND') order.reverse();
    let failure: unknown = null;
    for (const row of order) {
      await this.guard(sv, op);
      const plugin = sv.tryPlugin(row.type, row.name);
      const handler = action === 'CHECK' ? plugin?.handleCheck : action === 'SUSPEND' ? plugin?.handleSuspend : plugin?.handleResume;
      try {
        await setResourceState(this.ctx.db, row, action, 'IN_PROGRESS', '');
        if (handler) await handler.call(plugin, this.rctx(sv, row));
        await setResourceState(this.ctx.db, row, action, 'COMPLETE', '');
      } catch (e) {
        try { await this.failed(row, action, e); } catch (f) { if (f instanceof Superseded) throw f; failure ??= f; }
        if (action !== 'CHECK') break;
      }
    }
    if (failure) throw failure;
  }

  /** Pauses before an action while the environment sets a hook on the resource, until clearHook. */
  private async waitHook(sv: StackView, op: Operation, row: ResourceRow, hook: HookType, action: StackAction) {
    if (!hooksFor(sv.env, row.name).includes(hook)) return;
    const db = this.ctx.db;
    const stateOf = async () => {
      const cur = await getResourceRow(db, row.uuid);
      const st = fromJson<any>(cur?.hook_state, null);
      return st && st.op === op.id ? st : { op: op.id, waiting: null, cleared: [] };
    };
    let st = await stateOf();
    if (st.cleared.includes(hook)) return;
    if (st.waiting !== hook) {
      this.checkHalted();
      await db.tx(async (t) => {
        await t.run('UPDATE heat_resources SET hook_state = ? WHERE uuid = ?', [toJson({ ...st, waiting: hook }), row.uuid]);
        await addEvent(t, { stackId: sv.row.id, resourceName: row.name, physicalId: row.physical_id, type: row.type, action: row.action, status: row.status,
          reason: `${action} paused until Hook ${hook} is cleared` });
      });
    }
    for (;;) {
      await this.guard(sv, op);
      st = await stateOf();
      if (st.waiting !== hook) return;
      await sleep(100);
    }
  }

  /** clearHook / signal with unset_hook. */
  async clearHook(stackId: string, name: string, hook: HookType) {
    const db = this.ctx.db;
    const sv = await StackView.load(this, db, stackId);
    const row = sv?.current(name);
    if (!sv || !row) throw heatError(404, 'ResourceNotFound', `The Resource (${name}) could not be found in Stack ${sv?.row.name ?? stackId}.`);
    if (!['pre-create', 'pre-update', 'pre-delete'].includes(hook) || !hooksFor(sv.env, name).includes(hook)) {
      throw heatError(400, 'InvalidBreakPointHook', `The "${hook}" hook is not defined on ${row.type} "${name}"`);
    }
    await db.tx(async (t) => {
      const cur = (await getResourceRow(t, row.uuid))!;
      const srow = (await getStackRow(t, stackId))!;
      const st = fromJson<any>(cur.hook_state, null);
      const mine = st && st.op === srow.operation_id ? st : { op: srow.operation_id, waiting: null, cleared: [] };
      const next = { op: mine.op, waiting: mine.waiting === hook ? null : mine.waiting, cleared: [...new Set([...mine.cleared, hook])] };
      await t.run('UPDATE heat_resources SET hook_state = ? WHERE uuid = ?', [toJson(next), row.uuid]);
      await addEvent(t, { stackId, resourceName: name, physicalId: cur.physical_id, type: cur.type, action: cur.action, status: cur.status,
        reason: `Hook ${hook} is cleared` });
    });
  }

  // ------------------------------------------------------------------ reads

  async outputs(sv: StackView): Promise<OutputRecord[]> {
    const out: OutputRecord[] = [];
    const fc = sv.fc();
    for (const [key, o] of Object.entries(sv.t.outputs)) {
      if (o.condition !== undefined && o.condition !== null && !conditionHolds(o.condition, sv.conditions, sv.t, sv.params)) continue;
      const rec: OutputRecord = { output_key: key, output_value: null, description: o.description ?? 'No description given' };
      try { rec.output_value = (await resolve(o.value, fc)) ?? null; } catch (e: any) {
        rec.output_error = e?.message ?? String(e);
      }
      out.push(rec);
    }
    return out;
  }
}

const TIMED: StackAction[] = ['CREATE', 'UPDATE', 'ADOPT', 'ROLLBACK'];

/** When an operation times out (epoch ms): its own deadline (nested stacks) or the stack's timeout from its start. */
function operationDeadline(row: Pick<StackRow, 'timeout_mins'>, op: Operation): number | null {
  if (!TIMED.includes(op.action)) return null;
  if (op.deadline) return op.deadline;
  const mins = row.timeout_mins === null || row.timeout_mins === undefined ? null : Number(row.timeout_mins);
  return mins ? op.startedAt + mins * 60_000 : null;
}

/**
 * A nested stack's time: its own timeout when the definition gives one, never beyond the time its
 * parent's operation has left (Heat hands nested stacks the parent's remaining time).
 */
function nestedTiming(parent: StackRow, def: NestedStackDefinition): { timeoutMins: number | null; deadline: number | null } {
  const op = fromJson<Operation | null>(parent.operation, null);
  const parentDeadline = op ? operationDeadline(parent, op) : null;
  const now = Date.now();
  const own = def.timeoutMins ? now + def.timeoutMins * 60_000 : null;
  const deadline = own !== null && parentDeadline !== null ? Math.min(own, parentDeadline) : own ?? parentDeadline;
  // timeout_mins is an INTEGER column: a share of the parent's time is rounded up to whole minutes.
  const timeoutMins = def.timeoutMins ?? (parentDeadline !== null ? Math.max(1, Math.ceil((parentDeadline - now) / 60_000)) : null);
  return { timeoutMins, deadline };
}

function physicalName(stackName: string, resName: string): string {
  return `${stackName}-${resName}-${randomSuffix(12)}`;
}

/** Rows ordered so that each comes after the ones it requires. */
export function topo(rows: ResourceRow[]): ResourceRow[] {
  const out: ResourceRow[] = [];
  const seen = new Set<string>();
  const visit = (r: ResourceRow) => {
    if (seen.has(r.uuid)) return;
    seen.add(r.uuid);
    for (const n of fromJson<string[]>(r.requires, [])) { const d = rows.find((x) => x.name === n); if (d) visit(d); }
    out.push(r);
  };
  rows.forEach(visit);
  return out;
}

export type { ActionStatus };
