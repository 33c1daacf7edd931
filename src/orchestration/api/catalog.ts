// The parts of the API about what this Heat offers rather than about stacks: template versions
// and their functions, template validation, resource types (list, schema, generated template),
// build info and the engine services.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { policyCredentials } from '../../core/auth.ts';
import { heatError, type PluginRegistry, type PropertySchema, type ResourcePlugin, type StackRequest, type SupportStatus } from '../types.ts';
import { ADMIN_RESOURCE_TYPES } from './policy.ts';
import {
  authorize, badRequest, bodyObject, boolQuery, callerOf, commaList, queryOf, single, stackRequestOf, values, type HeatApiDeps,
} from './common.ts';

/** Every plugin has the 'show' attribute (the backing object as its API shows it). */
const SHOW_ATTRIBUTE = { description: 'The backing object as its service shows it.', type: 'map' };

function supportStatusView(s: SupportStatus | undefined): Record<string, unknown> {
  if (!s) return { status: 'SUPPORTED', version: null, message: null, previous_status: null };
  return {
    status: s.status, version: s.version ?? null, message: s.message ?? null,
    previous_status: s.previous_status ? supportStatusView(s.previous_status) : null,
  };
}

/** A property's schema as Heat shows it, when the template helper has none of its own. */
function propertyView(p: PropertySchema): Record<string, unknown> {
  const v: Record<string, unknown> = {
    type: p.type, description: p.description ?? '', required: p.required ?? false,
    update_allowed: p.update_allowed ?? false, immutable: p.immutable ?? false,
  };
  if (p.default !== undefined) v.default = p.default;
  if (p.constraints?.length) v.constraints = p.constraints;
  if (p.schema) v.schema = Object.fromEntries(Object.entries(p.schema).map(([k, s]) => [k, propertyView(s)]));
  return v;
}

/** The rule (if any) that restricts a type to admins: resource_types:<type> or a wildcard one. */
function typeRule(type: string): string | null {
  for (const t of ADMIN_RESOURCE_TYPES) {
    if (t === type || (t.endsWith('*') && type.startsWith(t.slice(0, -1)))) return `resource_types:${t}`;
  }
  return null;
}

function typeAllowed(ctx: Context, req: FastifyRequest, type: string): boolean {
  const rule = typeRule(type);
  if (!rule) return true;
  return ctx.policy.check(rule, policyCredentials(req.auth!), { project_id: (req.params as any).tenant_id });
}

function versionsOf(deps: HeatApiDeps): { version: string; type: string; aliases?: string[] }[] {
  const v = deps.template.TEMPLATE_VERSIONS;
  if (Array.isArray(v)) return v as { version: string; type: string; aliases?: string[] }[];
  if (v && typeof v === 'object') {
    return Object.entries(v as Record<string, any>).map(([version, t]) => ({ version, type: typeof t === 'string' ? t : t?.type ?? 'hot', ...(t?.aliases ? { aliases: t.aliases } : {}) }));
  }
  return [];
}

export async function catalogRoutes(app: FastifyInstance, ctx: Context, deps: HeatApiDeps) {
  const registry: PluginRegistry = deps.registry;

  app.get('/template_versions', async (req) => {
    authorize(ctx, req, 'stacks:list_template_versions');
    return { template_versions: versionsOf(deps) };
  });

  app.get('/template_versions/:version/functions', async (req) => {
    authorize(ctx, req, 'stacks:list_template_functions');
    const { version } = req.params as { version: string };
    const withConditions = boolQuery(queryOf(req), 'with_condition_func');
    if (!versionsOf(deps).some((v) => v.version === version)) {
      throw heatError(404, 'NotFound', `Template with version ${version} not found`);
    }
    const fns = deps.template.templateFunctions?.(version, withConditions);
    return { template_functions: Array.isArray(fns) ? fns : [] };
  });

  app.post('/validate', async (req) => {
    authorize(ctx, req, 'stacks:validate_template');
    const q = queryOf(req);
    const body = bodyObject(req);
    const { stack_name: _, ...sreq } = await stackRequestOf(ctx, deps, body, { requireName: false, requireTemplate: true }) as StackRequest;
    return deps.engine.validate(callerOf(ctx, req.auth!), sreq, {
      showNested: boolQuery(q, 'show_nested'),
      ignoreErrors: commaList(values(q, 'ignore_errors')),
    });
  });

  // ---------------------------------------------------------------- resource types

  app.get('/resource_types', async (req) => {
    authorize(ctx, req, 'stacks:list_resource_types');
    const q = queryOf(req);
    const name = single(q, 'name');
    const version = single(q, 'version');
    const status = single(q, 'support_status');
    const withDescription = boolQuery(q, 'with_description');
    let nameMatch: (t: string) => boolean = () => true;
    if (name) {
      let re: RegExp | null = null;
      try { re = new RegExp(name); } catch { /* not a pattern: a plain substring */ }
      nameMatch = re ? (t) => re!.test(t) : (t) => t.includes(name);
    }
    const types = registry.list().filter((p: ResourcePlugin) => {
      const s = p.supportStatus?.status ?? 'SUPPORTED';
      if (s === 'HIDDEN') return false;
      if (status && s !== status.toUpperCase()) return false;
      if (version && p.supportStatus?.version !== version) return false;
      return nameMatch(p.type) && typeAllowed(ctx, req, p.type);
    });
    return {
      resource_types: withDescription
        ? types.map((p) => ({ resource_type: p.type, description: p.description ?? '' }))
        : types.map((p) => p.type),
    };
  });

  function pluginOf(req: FastifyRequest): ResourcePlugin {
    const { type } = req.params as { type: string };
    const p = registry.get(type);
    if (!p || p.supportStatus?.status === 'HIDDEN') throw heatError(404, 'EntityNotFound', `The Resource Type (${type}) could not be found.`);
    if (!typeAllowed(ctx, req, type)) throw heatError(403, 'Forbidden', `You are not authorized to use ${type}.`);
    return p;
  }

  app.get('/resource_types/:type', async (req) => {
    authorize(ctx, req, 'stacks:resource_schema');
    const p = pluginOf(req);
    const props = deps.template.propertiesView?.(p.properties as Record<string, unknown>)
      ?? Object.fromEntries(Object.entries(p.properties).map(([k, s]) => [k, propertyView(s)]));
    return {
      resource_type: p.type,
      properties: props,
      attributes: { ...Object.fromEntries(Object.entries(p.attributes).map(([k, a]) => [k, { description: a.description, ...(a.type ? { type: a.type } : {}) }])), show: p.attributes.show ?? SHOW_ATTRIBUTE },
      support_status: supportStatusView(p.supportStatus),
      description: p.description ?? '',
    };
  });

  app.get('/resource_types/:type/template', async (req) => {
    authorize(ctx, req, 'stacks:generate_template');
    const p = pluginOf(req);
    const templateType = (single(queryOf(req), 'template_type') ?? 'cfn').toLowerCase();
    if (templateType !== 'hot' && templateType !== 'cfn') {
      throw badRequest(`Template type is not supported: Invalid template type "${templateType}", valid types are: cfn, hot.`);
    }
    const attributes = { ...p.attributes, show: p.attributes.show ?? SHOW_ATTRIBUTE };
    const generated = deps.template.generateTemplate?.(p.type, p.properties as Record<string, unknown>, attributes, templateType);
    if (!generated) throw heatError(501, 'NotSupported', 'Generating resource type templates is not available.');
    return generated;
  });

  // ---------------------------------------------------------------- service information

  app.get('/build_info', async (req) => {
    authorize(ctx, req, 'build_info:build_info');
    return { api: { revision: 'unknown' }, engine: { revision: 'unknown' } };
  });

  app.get('/services', async (req) => {
    authorize(ctx, req, 'service:index');
    const host = ctx.config.nodeId.split(':')[0] || 'localhost';
    const now = new Date().toISOString().replace(/\.\d+Z$/, '');
    return {
      services: [{
        id: engineServiceId(ctx.config.nodeId), host, hostname: host, binary: 'heat-engine', engine_id: engineServiceId(ctx.config.nodeId),
        topic: 'engine', report_interval: 60, status: 'up', created_at: STARTED.get(ctx) ?? now, updated_at: now, deleted_at: null,
      }],
    };
  });
  STARTED.set(ctx, new Date().toISOString().replace(/\.\d+Z$/, ''));
}

const STARTED = new WeakMap<Context, string>();

/** A stable uuid-shaped id for this node's engine. */
function engineServiceId(nodeId: string): string {
  const hex = createHash('sha1').update(nodeId).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
