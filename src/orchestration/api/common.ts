// What every Heat API handler needs: the caller, the stack named in the path, Heat's parsing of
// query values (booleans, integers, comma lists) and of the template/environment in a body.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import YAML from 'yaml';
import type { Context } from '../../core/service.ts';
import { policyCredentials, type AuthContext } from '../../core/auth.ts';
import { isUuid } from '../../core/ids.ts';
import { ApiError } from '../../core/errors.ts';
import { heatError, type Caller, type Environment, type OrchestrationEngine, type PluginRegistry, type StackRecord, type StackRequest } from '../types.ts';

/** The template language's helpers the API uses (template/index.ts), injectable for tests. */
export interface TemplateHelpers {
  /** Parses a template string (YAML or JSON); may answer a parsed Template (its .raw is used). */
  parseTemplate?(text: string): unknown;
  parseEnvironment?(text: string): unknown;
  TEMPLATE_VERSIONS?: unknown;
  templateFunctions?(versionId: string, withConditions: boolean): unknown;
  propertiesView?(schema: Record<string, unknown>): unknown;
  generateTemplate?(type: string, schema: Record<string, unknown>, attributes: Record<string, unknown>, templateType: 'hot' | 'cfn'): unknown;
}

export interface HeatApiDeps {
  engine: OrchestrationEngine;
  registry: PluginRegistry;
  template: TemplateHelpers;
  /** Checks the signature of a pre-signed signal URL (signal_url.ts). */
  verifySignal?(ctx: Context, stackId: string, resourceName: string, signature: string): boolean | Promise<boolean>;
  /** Mounts extra routes inside the authenticated /v1/:tenant_id scope (the software config API). */
  extraRoutes?(app: FastifyInstance, ctx: Context): Promise<void>;
}

export const badRequest = (message: string) => heatError(400, 'HTTPBadRequest', message);
export const stackNotFound = (name: string) => heatError(404, 'EntityNotFound', `The Stack (${name}) could not be found.`);

export function callerOf(ctx: Context, auth: AuthContext): Caller {
  return {
    userId: auth.userId,
    projectId: auth.projectId ?? '',
    roles: auth.roles,
    isAdmin: ctx.policy.check('context_is_admin', policyCredentials(auth)),
  };
}

/** The identity Heat's engine acts as for unauthenticated (pre-signed) signals. */
export const SERVICE_CALLER: Caller = { userId: '', projectId: '', roles: ['admin'], isAdmin: true };

export const tenantOf = (req: FastifyRequest) => (req.params as { tenant_id: string }).tenant_id;

/** Checks a Heat policy rule against the project in the URL. */
export function authorize(ctx: Context, req: FastifyRequest, rule: string) {
  ctx.policy.authorize(rule, req.auth!, { project_id: tenantOf(req), tenant_id: tenantOf(req) });
}

// ------------------------------------------------------------------ query values

type Query = Record<string, string | string[] | undefined>;

export const queryOf = (req: FastifyRequest) => (req.query ?? {}) as Query;

/** All values of a query key (repeated keys and, where Heat allows, comma lists). */
export function values(q: Query, key: string): string[] {
  const v = q[key];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

export function single(q: Query, key: string): string | undefined {
  const v = values(q, key);
  return v.length ? v[v.length - 1] : undefined;
}

const TRUE = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
const FALSE = new Set(['0', 'f', 'false', 'off', 'n', 'no']);

/** oslo's strict bool_from_string, as Heat's extract_bool. */
export function parseBool(name: string, v: unknown, fallback = false): boolean {
  if (v === undefined || v === null || v === '') return fallback;
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  throw badRequest(`Unrecognized value "${v}" for "${name}", acceptable values are: true, false.`);
}

export function boolQuery(q: Query, key: string, fallback = false): boolean {
  return parseBool(key, single(q, key), fallback);
}

/** Heat's extract_int: a non-negative integer. */
export function parseInt0(name: string, v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (v < 0) throw badRequest(`Value '${v}' is invalid for '${name}' which only accepts non-negative integer.`);
    return v;
  }
  const s = String(v).trim();
  if (!/^-?\d+$/.test(s)) throw badRequest(`Only integer is acceptable by '${name}'.`);
  const n = Number(s);
  if (n < 0) throw badRequest(`Value '${v}' is invalid for '${name}' which only accepts non-negative integer.`);
  return n;
}

export function sortDir(q: Query): 'asc' | 'desc' | undefined {
  const d = single(q, 'sort_dir');
  if (d === undefined) return undefined;
  if (d !== 'asc' && d !== 'desc') throw badRequest(`Unknown sort direction, must be 'desc' or 'asc'`);
  return d;
}

/** 'a,b' and repeated keys alike. */
export function commaList(v: unknown): string[] {
  if (v === undefined || v === null || v === '') return [];
  const items = Array.isArray(v) ? v : [v];
  return items.flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
}

/** Query filters among `keys`, each as the list of accepted values. */
export function filtersOf(q: Query, keys: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const k of keys) {
    const v = values(q, k);
    if (v.length) out[k] = v;
  }
  return out;
}

// ------------------------------------------------------------------ bodies

export function bodyObject(req: FastifyRequest): Record<string, any> {
  const b = req.body;
  if (b === undefined || b === null || b === '') return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw badRequest('The request body must be a JSON object.');
  return b as Record<string, any>;
}

/** Heat's max_template_size and max_json_body_size defaults. */
const MAX_TEMPLATE_SIZE = 524288;

function parseYamlMapping(text: string, what: string): Record<string, unknown> {
  if (text.length > MAX_TEMPLATE_SIZE) {
    throw badRequest(`${what === 'template' ? 'Template' : 'Environment'} size (${text.length} bytes) exceeds maximum allowed size (${MAX_TEMPLATE_SIZE} bytes).`);
  }
  let doc: unknown;
  try {
    doc = text.trim().startsWith('{') ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw badRequest(`Error parsing ${what}: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw badRequest(what === 'template' ? 'The template is not a JSON object or YAML mapping.' : 'The environment is not a valid YAML mapping data type.');
  }
  return doc as Record<string, unknown>;
}

/** A parsed template as the template helper answers it (a Template has .raw) or a plain object. */
function rawOf(t: unknown): Record<string, unknown> | null {
  if (!t || typeof t !== 'object') return null;
  const o = t as Record<string, unknown>;
  if ('raw' in o && 'versionKey' in o && o.raw && typeof o.raw === 'object') return o.raw as Record<string, unknown>;
  return o;
}

export function parseTemplateText(deps: HeatApiDeps, text: string): Record<string, unknown> {
  if (deps.template.parseTemplate) {
    try {
      const raw = rawOf(deps.template.parseTemplate(text));
      if (raw) return raw;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw badRequest(`Error parsing template: ${(e as Error).message}`);
    }
  }
  return parseYamlMapping(text, 'template');
}

const ENV_SECTIONS = new Set(['parameters', 'parameter_defaults', 'resource_registry', 'event_sinks', 'encrypted_param_names', 'parameter_merge_strategies']);

export function parseEnvironmentValue(deps: HeatApiDeps, v: unknown): Partial<Environment> {
  if (v === undefined || v === null || v === '') return {};
  if (typeof v === 'string' && deps.template.parseEnvironment) {
    try {
      return deps.template.parseEnvironment(v) as Partial<Environment>;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw badRequest(`Error parsing environment: ${(e as Error).message}`);
    }
  }
  const env = typeof v === 'string' ? parseYamlMapping(v, 'environment') : v;
  if (!env || typeof env !== 'object' || Array.isArray(env)) throw badRequest('The environment is not a valid YAML mapping data type.');
  for (const k of Object.keys(env)) {
    if (!ENV_SECTIONS.has(k)) throw badRequest(`environment has wrong section "${k}"`);
  }
  return env as Partial<Environment>;
}

/**
 * The template of a create/update/validate body: `template` (object or YAML/JSON string) or a
 * `template_url` on this cloud. Absent: null (PATCH keeps the current template).
 */
export async function templateOf(ctx: Context, deps: HeatApiDeps, body: Record<string, any>): Promise<Record<string, unknown> | null> {
  const t = body.template;
  if (t !== undefined && t !== null && t !== '') {
    if (typeof t === 'string') return parseTemplateText(deps, t);
    if (typeof t === 'object' && !Array.isArray(t)) return t;
    throw badRequest('The template is not a JSON object or YAML mapping.');
  }
  const url = body.template_url;
  if (url) {
    if (typeof url !== 'string' || !url.startsWith(`${ctx.config.publicUrl}/`)) throw badRequest('template_url is not supported');
    let text: string;
    try {
      const r = await fetch(url, { headers: { accept: 'application/json, application/x-yaml, text/plain' } });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      text = await r.text();
    } catch (e) {
      throw badRequest(`Could not retrieve template: ${(e as Error).message}`);
    }
    return parseTemplateText(deps, text);
  }
  return null;
}

function filesOf(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('files must be a map of file names to their contents.');
  const out: Record<string, string> = {};
  for (const [k, c] of Object.entries(v)) out[k] = typeof c === 'string' ? c : JSON.stringify(c);
  return out;
}

/** A create/update/preview/validate body as the engine takes it (template may be null on PATCH). */
export async function stackRequestOf(ctx: Context, deps: HeatApiDeps, body: Record<string, any>, opts: { requireName: boolean; requireTemplate: boolean }):
  Promise<Omit<StackRequest, 'template'> & { template: Record<string, unknown> | null }> {
  const name = body.stack_name;
  if (opts.requireName && (name === undefined || name === null || name === '')) throw badRequest('No stack name specified');
  if (name !== undefined && typeof name !== 'string') throw badRequest('The stack name must be a string.');
  if (body.files_container) throw badRequest('files_container is not supported');
  const template = await templateOf(ctx, deps, body);
  if (!template && opts.requireTemplate) throw badRequest('No template specified');
  const req: Omit<StackRequest, 'template'> & { template: Record<string, unknown> | null } = { stack_name: name ?? '', template };
  if (body.parameters !== undefined && body.parameters !== null) {
    if (typeof body.parameters !== 'object' || Array.isArray(body.parameters)) throw badRequest('parameters must be a map of parameter names to values.');
    req.parameters = body.parameters;
  }
  const env = parseEnvironmentValue(deps, body.environment);
  if (Object.keys(env).length) req.environment = env;
  if (body.environment_files !== undefined && body.environment_files !== null) {
    if (!Array.isArray(body.environment_files) || body.environment_files.some((f: unknown) => typeof f !== 'string')) {
      throw badRequest('environment_files must be a list of file names.');
    }
    req.environment_files = body.environment_files;
  }
  const files = filesOf(body.files);
  if (files) req.files = files;
  if (body.timeout_mins !== undefined && body.timeout_mins !== null && body.timeout_mins !== '') {
    req.timeout_mins = parseInt0('timeout_mins', body.timeout_mins);
  }
  if (body.disable_rollback !== undefined && body.disable_rollback !== null) {
    req.disable_rollback = parseBool('disable_rollback', body.disable_rollback);
  }
  if (body.tags !== undefined && body.tags !== null) req.tags = commaList(body.tags);
  if (body.clear_parameters !== undefined) {
    if (!Array.isArray(body.clear_parameters)) throw badRequest('clear_parameters must be a list of parameter names.');
    req.clear_parameters = body.clear_parameters.map(String);
  }
  return req;
}

// ------------------------------------------------------------------ stacks in paths

/**
 * The stack at /stacks/{stack_name}/{stack_id}: looked up by id (deleted stacks too where
 * Heat shows them), and the name must match.
 */
export async function identifiedStack(ctx: Context, deps: HeatApiDeps, req: FastifyRequest, opts: { showDeleted?: boolean } = {}): Promise<StackRecord> {
  const { stack_name, stack_id } = req.params as { stack_name: string; stack_id: string };
  const stack = await deps.engine.find(callerOf(ctx, req.auth!), stack_id, { showDeleted: opts.showDeleted ?? false });
  if (!stack || stack.id !== stack_id || stack.name !== stack_name) throw stackNotFound(stack_name);
  return stack;
}

/** Lookup by name or id (GET /stacks/{name}): ids also find deleted stacks, as Heat's identify_stack. */
export async function lookupStack(ctx: Context, deps: HeatApiDeps, req: FastifyRequest, nameOrId: string): Promise<StackRecord> {
  const stack = await deps.engine.find(callerOf(ctx, req.auth!), nameOrId, { showDeleted: isUuid(nameOrId) });
  if (!stack) throw stackNotFound(nameOrId);
  return stack;
}
