// Test set-up for the API alone: an in-memory OrchestrationEngine (stacks complete at once, their
// resources are the template's, outputs resolve get_param) and the API mounted on the real HTTP
// server with fake tokens, so route tests need neither the engine nor the rest of the cloud.
import type { FastifyInstance } from 'fastify';
import { buildHttpServer } from '../../core/http.ts';
import { BASE_RULES, Enforcer } from '../../core/policy.ts';
import type { AuthContext } from '../../core/auth.ts';
import type { Context } from '../../core/service.ts';
import { unauthorized } from '../../core/errors.ts';
import { uuid, isUuid } from '../../core/ids.ts';
import {
  heatError, type Caller, type Environment, type EventRecord, type HookType, type OrchestrationEngine, type OutputRecord,
  type PluginRegistry, type ResourcePlugin, type ResourceRecord, type StackRecord, type StackRequest,
} from '../types.ts';
import { heatRoutes } from './routes.ts';
import { HEAT_POLICY } from './policy.ts';
import type { HeatApiDeps, TemplateHelpers } from './common.ts';

export const PUBLIC_URL = 'http://heat.test';
export const ADMIN_PROJECT = 'p-admin';
export const DEMO_PROJECT = 'p-demo';

function auth(token: string, userId: string, projectId: string, roles: string[], isAdminProject = false): AuthContext {
  return {
    token, userId, userName: userId, userDomainId: 'default', userDomainName: 'Default', projectId, projectName: projectId,
    projectDomainId: 'default', projectDomainName: 'Default', roles, roleIds: roles, methods: ['password'],
    issuedAt: '', expiresAt: '', auditIds: [], isAdminProject,
  };
}

export const TOKENS: Record<string, AuthContext> = {
  admin: auth('admin', 'u-admin', ADMIN_PROJECT, ['admin', 'member', 'reader'], true),
  demo: auth('demo', 'u-demo', DEMO_PROJECT, ['member', 'reader']),
  reader: auth('reader', 'u-reader', DEMO_PROJECT, ['reader']),
  stackuser: auth('stackuser', 'u-stackuser', DEMO_PROJECT, ['heat_stack_user']),
  other: auth('other', 'u-other', 'p-other', ['member', 'reader']),
};

type Call = { method: string; args: unknown[] };

interface FakeStack { record: StackRecord; resources: ResourceRecord[]; events: EventRecord[]; hooks: Map<string, HookType> }

/** An in-memory engine; `calls` records what the API asked of it. */
export class FakeEngine implements OrchestrationEngine {
  stacks = new Map<string, FakeStack>();
  calls: Call[] = [];
  /** Signals by "<stack id>/<resource>". */
  signals: { stackId: string; name: string; details: unknown }[] = [];

  private note(method: string, ...args: unknown[]) { this.calls.push({ method, args }); }
  lastCall(method: string): unknown[] | undefined { return [...this.calls].reverse().find((c) => c.method === method)?.args; }

  private build(caller: Caller, req: StackRequest, action: 'CREATE' | 'ADOPT'): FakeStack {
    if (!/^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$/.test(req.stack_name)) {
      throw heatError(400, 'StackValidationFailed', `Invalid stack name ${req.stack_name} must contain only alphanumeric or "_-." characters, must start with alpha and must be 255 characters or less.`);
    }
    for (const s of this.stacks.values()) {
      if (s.record.name === req.stack_name && s.record.projectId === caller.projectId && !s.record.deletedAt) {
        throw heatError(409, 'StackExists', `The Stack (${req.stack_name}) already exists.`);
      }
    }
    const t = req.template;
    if (!t.heat_template_version && !t.AWSTemplateFormatVersion) throw heatError(400, 'InvalidTemplateVersion', 'The template version is invalid: missing version');
    const now = new Date().toISOString();
    const id = uuid();
    const params = { ...(req.environment?.parameters ?? {}), ...(req.parameters ?? {}) };
    const record: StackRecord = {
      id, name: req.stack_name, projectId: caller.projectId, userId: caller.userId, parentId: null, ownerResource: null,
      action, status: 'COMPLETE', statusReason: 'Stack CREATE completed successfully', description: String(t.description ?? ''),
      template: t, environment: { parameters: {}, parameter_defaults: {}, resource_registry: {}, event_sinks: [], ...req.environment },
      files: req.files ?? {}, parameters: params, disableRollback: req.disable_rollback ?? true, timeoutMins: req.timeout_mins ?? null,
      tags: req.tags ?? [], createdAt: now, updatedAt: null, deletedAt: null,
    };
    const resources = Object.entries((t.resources ?? {}) as Record<string, any>).map(([name, r]): ResourceRecord => ({
      uuid: uuid(), stackId: id, stackName: req.stack_name, name, type: r.type, physicalId: uuid(), action: 'CREATE', status: 'COMPLETE',
      statusReason: 'state changed', requires: [], requiredBy: [], metadata: r.metadata ?? {}, createdAt: now, updatedAt: null,
      nestedStackId: null, description: '',
    }));
    const events = [record.name, ...resources.map((r) => r.name)].map((n): EventRecord => ({
      id: uuid(), stackId: id, stackName: record.name, resourceName: n, physicalResourceId: n === record.name ? id : resources.find((r) => r.name === n)!.physicalId,
      resourceType: n === record.name ? 'OS::Heat::Stack' : resources.find((r) => r.name === n)!.type, action: 'CREATE', status: 'COMPLETE',
      reason: 'state changed', time: now, resourceProperties: {},
    }));
    return { record, resources, events, hooks: new Map() };
  }

  private get(id: string): FakeStack {
    const s = this.stacks.get(id);
    if (!s) throw heatError(404, 'EntityNotFound', `The Stack (${id}) could not be found.`);
    return s;
  }

  async create(caller: Caller, req: StackRequest) {
    this.note('create', caller, req);
    const s = this.build(caller, req, 'CREATE');
    this.stacks.set(s.record.id, s);
    return s.record;
  }
  async adopt(caller: Caller, req: StackRequest, data: Record<string, unknown>) {
    this.note('adopt', caller, req, data);
    const s = this.build(caller, req, 'ADOPT');
    this.stacks.set(s.record.id, s);
    return s.record;
  }
  async preview(caller: Caller, req: StackRequest) {
    this.note('preview', caller, req);
    return { stack_name: req.stack_name, resources: Object.keys((req.template.resources ?? {}) as object).map((n) => ({ resource_name: n })) };
  }
  async update(caller: Caller, stackId: string, req: StackRequest, opts: { patch: boolean }) {
    this.note('update', caller, stackId, req, opts);
    const s = this.get(stackId);
    s.record.template = req.template;
    s.record.parameters = opts.patch ? { ...s.record.parameters, ...req.parameters } : { ...(req.parameters ?? {}) };
    s.record.action = 'UPDATE';
    s.record.updatedAt = new Date().toISOString();
  }
  async previewUpdate(caller: Caller, stackId: string, req: StackRequest, opts: { patch: boolean; showNested?: boolean }) {
    this.note('previewUpdate', caller, stackId, req, opts);
    return { added: [], deleted: [], replaced: [], unchanged: [], updated: [] };
  }
  async delete(caller: Caller, stackId: string) {
    this.note('delete', caller, stackId);
    const s = this.get(stackId);
    s.record.action = 'DELETE';
    s.record.deletedAt = new Date().toISOString();
  }
  async abandon(caller: Caller, stackId: string) {
    this.note('abandon', caller, stackId);
    const s = this.get(stackId);
    this.stacks.delete(stackId);
    return { id: s.record.id, name: s.record.name, resources: {} };
  }
  async cancelUpdate(caller: Caller, stackId: string, opts: { rollback: boolean }) { this.note('cancelUpdate', caller, stackId, opts); }
  async action(caller: Caller, stackId: string, action: 'check' | 'suspend' | 'resume') {
    this.note('action', caller, stackId, action);
    this.get(stackId).record.action = action.toUpperCase() as StackRecord['action'];
  }
  async find(caller: Caller, idOrName: string, opts: { showDeleted?: boolean } = {}) {
    this.note('find', caller, idOrName, opts);
    for (const s of this.stacks.values()) {
      const r = s.record;
      if (!caller.isAdmin && r.projectId !== caller.projectId) continue;
      if (r.deletedAt && !opts.showDeleted) continue;
      if (r.id === idOrName || (!isUuid(idOrName) && r.name === idOrName)) return r;
    }
    return null;
  }
  async list(caller: Caller, opts: Parameters<OrchestrationEngine['list']>[1]) {
    this.note('list', caller, opts);
    return [...this.stacks.values()].map((s) => s.record)
      .filter((r) => (opts.globalTenant || r.projectId === caller.projectId) && (!r.deletedAt || opts.showDeleted))
      .filter((r) => !opts.filters?.name || opts.filters.name.includes(r.name))
      .slice(0, opts.limit ?? Infinity);
  }
  async count(caller: Caller, opts: Parameters<OrchestrationEngine['count']>[1]) {
    this.note('count', caller, opts);
    return (await this.list(caller, { ...opts, limit: undefined })).length;
  }
  async outputs(stack: StackRecord): Promise<OutputRecord[]> {
    const outs = (stack.template.outputs ?? {}) as Record<string, any>;
    return Object.entries(outs).map(([k, o]) => {
      const v = o.value;
      if (v && typeof v === 'object' && 'get_param' in v) return { output_key: k, output_value: stack.parameters[v.get_param], description: o.description ?? 'No description given' };
      if (v && typeof v === 'object' && 'get_attr' in v) return { output_key: k, output_value: null, description: 'No description given', output_error: 'The Referenced Attribute is not available' };
      return { output_key: k, output_value: v, description: o.description ?? 'No description given' };
    });
  }
  async output(stack: StackRecord, key: string) {
    const o = (await this.outputs(stack)).find((x) => x.output_key === key);
    if (!o) throw heatError(404, 'NotFound', `Specified output key ${key} not found.`);
    return o;
  }
  async listResources(stack: StackRecord, opts: { nestedDepth?: number; filters?: Record<string, string[]>; withDetail?: boolean }) {
    this.note('listResources', stack.id, opts);
    return this.get(stack.id).resources;
  }
  async getResource(stack: StackRecord, name: string) {
    const r = this.get(stack.id).resources.find((x) => x.name === name);
    if (!r) throw heatError(404, 'ResourceNotFound', `The Resource (${name}) could not be found in Stack ${stack.name}.`);
    return r;
  }
  async resourceAttributes(stack: StackRecord, name: string) {
    const r = await this.getResource(stack, name);
    return { output: stack.parameters.test_val ?? null, show: { id: r.physicalId } };
  }
  async markUnhealthy(caller: Caller, stack: StackRecord, name: string, unhealthy: boolean, reason: string) {
    this.note('markUnhealthy', caller, stack.id, name, unhealthy, reason);
    const r = await this.getResource(stack, name);
    if (unhealthy) Object.assign(r, { action: 'CHECK', status: 'FAILED', statusReason: reason });
  }
  async signal(stack: StackRecord, name: string, details: unknown) {
    const r = await this.getResource(stack, name);
    if (r.type === 'OS::Heat::TestResource') throw heatError(400, 'ResourceActionNotSupported', `Signal resource during ${r.action} is not supported.`);
    this.signals.push({ stackId: stack.id, name, details });
  }
  async events(stack: StackRecord, opts: Parameters<OrchestrationEngine['events']>[1]) {
    this.note('events', stack.id, opts);
    return this.get(stack.id).events.filter((e) => !opts.resourceName || e.resourceName === opts.resourceName);
  }
  async event(stack: StackRecord, resourceName: string, eventId: string) {
    const e = this.get(stack.id).events.find((x) => x.id === eventId && x.resourceName === resourceName);
    if (!e) throw heatError(404, 'EntityNotFound', `The Event (${eventId}) could not be found.`);
    return e;
  }
  async clearHook(stack: StackRecord, resourceName: string, hook: HookType) { this.note('clearHook', stack.id, resourceName, hook); }
  async validate(caller: Caller, req: Omit<StackRequest, 'stack_name'>, opts: { showNested?: boolean; ignoreErrors?: string[] }) {
    this.note('validate', caller, req, opts);
    return { Description: String(req.template.description ?? 'No description'), Parameters: {}, Environment: { parameters: {} } };
  }
  template(stack: StackRecord) { return stack.template; }
  environment(stack: StackRecord): Environment { return stack.environment; }
}

export const TEST_PLUGIN: ResourcePlugin = {
  type: 'OS::Heat::TestResource',
  description: 'A resource which stores the string value that was provided.',
  properties: {
    value: { type: 'string', description: 'The input string to be stored.', default: 'test_string', update_allowed: true },
    wait_secs: { type: 'number', description: 'Seconds to wait after an action.', default: 0, update_allowed: true },
  },
  attributes: { output: { description: 'The string that was stored.', type: 'string' } },
  handleCreate: async () => {}, handleDelete: async () => {}, resolveAttribute: async () => null,
};

const plugin = (type: string, extra: Partial<ResourcePlugin> = {}): ResourcePlugin =>
  ({ ...TEST_PLUGIN, type, description: `${type} resource`, ...extra });

export const TEST_REGISTRY: PluginRegistry = (() => {
  const list = [TEST_PLUGIN, plugin('OS::Nova::Server'), plugin('OS::Nova::Flavor'), plugin('OS::Keystone::Project'),
    plugin('OS::Heat::Hidden', { supportStatus: { status: 'HIDDEN' } }),
    plugin('OS::Heat::Old', { supportStatus: { status: 'DEPRECATED', version: '5.0.0' } })].sort((a, b) => (a.type < b.type ? -1 : 1));
  return { get: (t) => list.find((p) => p.type === t), list: () => list };
})();

export const TEST_TEMPLATE_HELPERS: TemplateHelpers = {
  TEMPLATE_VERSIONS: [
    { version: 'AWSTemplateFormatVersion.2010-09-09', type: 'cfn', aliases: [] },
    { version: 'heat_template_version.2016-04-08', type: 'hot', aliases: ['mitaka'] },
  ],
  templateFunctions: (v, withConditions) => [
    { functions: 'get_file', description: 'A function for including a file inline.' },
    ...(withConditions ? [{ functions: 'equals', description: 'A function for comparing whether two values are equal.' }] : []),
  ].filter(() => v.length > 0),
  generateTemplate: (type, schema, _attrs, templateType) => templateType === 'hot'
    ? { heat_template_version: '2016-10-14', parameters: Object.fromEntries(Object.keys(schema).map((k) => [k, {}])), resources: { [type.split('::').pop()!]: { type } } }
    : { HeatTemplateFormatVersion: '2012-12-12', Resources: { [type.split('::').pop()!]: { Type: type } } },
};

export interface ApiHarness {
  app: FastifyInstance;
  engine: FakeEngine;
  ctx: Context;
  /** Sends a request as one of TOKENS' users (null: no token). */
  call(user: keyof typeof TOKENS | null, method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Record<string, any> }>;
  close(): Promise<void>;
}

/** /heat-api on a Fastify server of its own, backed by a FakeEngine. */
export async function startApi(overrides: Partial<HeatApiDeps> = {}): Promise<ApiHarness> {
  const engine = new FakeEngine();
  const logs: unknown[] = [];
  const ctx = {
    config: { publicUrl: PUBLIC_URL, region: 'RegionOne', nodeId: 'node-1:/data' },
    policy: new Enforcer({ ...BASE_RULES, ...HEAT_POLICY }),
    tokens: {
      async validate(t: string) {
        const a = TOKENS[t];
        if (!a) throw unauthorized();
        return a;
      },
    },
    log: { info: () => {}, warn: (m: string, e?: unknown) => logs.push([m, e]), error: (m: string, e?: unknown) => logs.push([m, e]) },
    services: {}, catalog: [],
  } as unknown as Context;
  const deps: HeatApiDeps = { engine, registry: TEST_REGISTRY, template: TEST_TEMPLATE_HELPERS, ...overrides };
  const app = buildHttpServer(ctx, [{ name: 'orchestration', prefix: '/heat-api', migrations: [], routes: (a, c) => heatRoutes(a, c, deps) }]);
  await app.ready();
  return {
    app, engine: (deps.engine as FakeEngine), ctx,
    async call(user, method, url, body, headers = {}) {
      const r = await app.inject({
        method: method as any, url,
        headers: { ...(user ? { 'x-auth-token': user } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      let parsed: any = r.body;
      try { parsed = r.body ? JSON.parse(r.body) : null; } catch { /* not JSON */ }
      return { status: r.statusCode, body: parsed, headers: r.headers };
    },
    close: () => app.close(),
  };
}

/** The v1 root of a test project. */
export const v1 = (project = DEMO_PROJECT) => `/heat-api/v1/${project}`;
