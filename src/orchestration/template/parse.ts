// Parsing templates and environments into the shapes of types.ts, with Heat's structural
// checks and messages. No function is resolved here.
import YAML from 'yaml';
import { heatError, validationFailed } from '../types.ts';
import type { Environment, OutputDefinition, ParameterConstraint, ParameterSchema, ResourceDefinition, Template } from '../types.ts';
import { CFN_PARAM_KEYS, VERSION_KEYS, versionSpec, versionValues } from './versions.ts';
import type { VersionSpec } from './versions.ts';
import { invalidReference, invalidVersion, isMap, pyRegExp, pyTypeName, schemaError, strToNum } from './util.ts';

/** Heat's max_template_size default. */
export const MAX_TEMPLATE_SIZE = 524288;

// Heat loads YAML with PyYAML (YAML 1.1: yes/no/on/off are booleans, 0755 is octal) but keeps
// timestamps as strings, so '2016-04-08' stays the version string it was written as.
const YAML_OPTIONS = {
  schema: 'yaml-1.1' as const,
  customTags: (tags: any[]) => tags.filter((t) => t.tag !== 'tag:yaml.org,2002:timestamp'),
  uniqueKeys: false,
  maxAliasCount: 1000,
};

/** Parses YAML (or JSON, which YAML includes) the way Heat's template loader does. */
export function parseYaml(text: string): unknown {
  return YAML.parse(text, YAML_OPTIONS);
}

function parseDocument(source: string, what: 'template' | 'environment', format?: 'yaml' | 'json'): unknown {
  if (format !== 'yaml') {
    try {
      return JSON.parse(source);
    } catch (e) {
      if (format === 'json') throw heatError(400, 'HTTPBadRequest', `Error parsing ${what} [root stack] ${(e as Error).message}`);
    }
  }
  try {
    return parseYaml(source) ?? {};
  } catch (e) {
    throw heatError(400, 'HTTPBadRequest', `Error parsing ${what} [root stack] ${(e as Error).message}`);
  }
}

/** Finds the version key and spec like Heat's get_version / get_template_class. */
export function detectVersion(raw: Record<string, unknown>): { key: string; value: string; spec: VersionSpec } {
  const present = VERSION_KEYS.filter((k) => typeof raw[k] === 'string');
  if (present.length > 1) throw invalidVersion(`Ambiguous versions (${present.join(', ')})`);
  if (present.length === 0) throw invalidVersion('Template version was not provided');
  const key = present[0];
  const value = raw[key] as string;
  const spec = versionSpec(key, value);
  if (!spec) {
    const available = versionValues(key);
    const verb = available.length > 1 ? 'should be one of' : 'should be';
    throw invalidVersion(`"${key}: ${value}". "${key}" ${verb}: ${available.join(', ')}`);
  }
  return { key, value, spec };
}

export function parseTemplate(source: string | Record<string, unknown>, opts: { format?: 'yaml' | 'json' } = {}): Template {
  let raw: unknown = source;
  if (typeof source === 'string') {
    if (Buffer.byteLength(source) > MAX_TEMPLATE_SIZE) {
      throw heatError(400, 'RequestLimitExceeded',
        `Request limit exceeded: Template size (${Buffer.byteLength(source)} bytes) exceeds maximum allowed size (${MAX_TEMPLATE_SIZE} bytes).`);
    }
    raw = parseDocument(source, 'template', opts.format);
  }
  if (!isMap(raw)) throw heatError(400, 'HTTPBadRequest', 'The template is not a JSON object or YAML mapping.');
  const { key, value, spec } = detectVersion(raw);

  for (const k of Object.keys(raw)) {
    if (!spec.sections.includes(k)) throw heatError(400, 'InvalidTemplateSection', `The template section is invalid: ${k}`);
  }
  const cfn = spec.type === 'cfn';
  const sec = (hot: string, cfnName: string) => raw[cfn ? cfnName : hot];

  const description = sec('description', 'Description');
  const t: Template = {
    versionKey: key,
    version: value,
    versionId: spec.id,
    description: description === undefined || description === null || description === '' ? 'No description'
      : typeof description === 'string' ? description : String(description),
    parameters: parseParameters(sec('parameters', 'Parameters'), spec),
    parameterGroups: parseParameterGroups(cfn ? undefined : raw.parameter_groups),
    resources: parseResources(sec('resources', 'Resources'), spec),
    outputs: parseOutputs(sec('outputs', 'Outputs'), spec),
    conditions: parseConditions(spec.hasConditions ? sec('conditions', 'Conditions') : undefined),
    raw,
  };
  for (const r of Object.values(t.resources)) {
    for (const dep of r.dependsOn) if (!(dep in t.resources)) throw invalidReference(dep, r.name);
  }
  return t;
}

// ------------------------------------------------------------------ parameters

const HOT_TYPES = ['string', 'number', 'json', 'comma_delimited_list', 'boolean'];
const CFN_TYPES: Record<string, ParameterSchema['type']> = {
  String: 'string', Number: 'number', Json: 'json', CommaDelimitedList: 'comma_delimited_list', Boolean: 'boolean',
};

function checkDict(v: unknown, allowed: string[], entity: string): Record<string, unknown> {
  if (!isMap(v)) throw schemaError(`Invalid ${entity}, expected a mapping`);
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw schemaError(`Invalid key '${k}' for ${entity}`);
  return v;
}

function num(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  try {
    return strToNum(v);
  } catch (e) {
    throw schemaError((e as Error).message);
  }
}

function rangeOf(cdef: unknown, entity: string, integral: boolean): { min?: number; max?: number } {
  const d = checkDict(cdef, ['min', 'max'], `${entity} constraint`);
  const min = num(d.min);
  const max = num(d.max);
  if (min === undefined && max === undefined) {
    throw schemaError(`A ${entity} constraint must have a min value and/or a max value specified.`);
  }
  if (integral && [min, max].some((x) => x !== undefined && !Number.isInteger(x))) throw schemaError('min/max length must be integral');
  const out: { min?: number; max?: number } = {};
  if (min !== undefined) out.min = min;
  if (max !== undefined) out.max = max;
  return out;
}

function modulo(cdef: unknown): { step: number; offset: number } {
  const d = checkDict(cdef, ['step', 'offset'], 'modulo constraint');
  const step = num(d.step);
  const offset = num(d.offset);
  if (step === undefined || offset === undefined) {
    throw schemaError('A modulo constraint must have a step value and an offset value specified.');
  }
  if (!Number.isInteger(step) || !Number.isInteger(offset)) throw schemaError('step/offset must be integer');
  if (step === 0) throw schemaError('step cannot be 0.');
  if (Math.abs(offset) >= Math.abs(step)) throw schemaError('offset must be smaller (by absolute value) than step.');
  if (step * offset < 0) throw schemaError('step and offset must be both positive or both negative.');
  return { step, offset };
}

function allowedValues(v: unknown): unknown[] {
  if (!Array.isArray(v)) throw schemaError('AllowedValues must be a list');
  return v;
}

function allowedPattern(v: unknown): string {
  if (typeof v !== 'string') throw schemaError('AllowedPattern must be a string');
  pyRegExp(v);
  return v;
}

function hotConstraint(c: unknown, spec: VersionSpec): ParameterConstraint {
  const d = checkDict(c, [...spec.paramConstraints.filter((k) => k !== 'modulo'), 'modulo'], 'parameter constraints');
  const out: ParameterConstraint = {};
  if (d.description !== undefined) out.description = String(d.description);
  if ('range' in d) out.range = rangeOf(d.range, 'range', false);
  else if ('length' in d) out.length = rangeOf(d.length, 'length', true);
  else if ('allowed_values' in d) out.allowed_values = allowedValues(d.allowed_values);
  else if ('allowed_pattern' in d) out.allowed_pattern = allowedPattern(d.allowed_pattern);
  else if ('custom_constraint' in d) out.custom_constraint = String(d.custom_constraint);
  else if ('modulo' in d && spec.paramConstraints.includes('modulo')) out.modulo = modulo(d.modulo);
  else throw schemaError('No constraint expressed');
  return out;
}

function parseParameters(section: unknown, spec: VersionSpec): Record<string, ParameterSchema> {
  if (section === undefined || section === null) return {};
  if (!isMap(section)) throw schemaError('Invalid parameters, expected a mapping');
  const out: Record<string, ParameterSchema> = {};
  for (const [name, def] of Object.entries(section)) {
    out[name] = spec.type === 'cfn' ? cfnParameter(name, def) : hotParameter(name, def, spec);
  }
  return out;
}

function hotParameter(name: string, def: unknown, spec: VersionSpec): ParameterSchema {
  const d = checkDict(def, spec.paramKeys, `parameter (${name})`);
  if (!('type' in d)) throw schemaError(`Missing parameter type for parameter: ${name}`);
  if (typeof d.type !== 'string' || !HOT_TYPES.includes(d.type)) throw schemaError(`Invalid type (${d.type})`);
  if (d.tags !== undefined && !Array.isArray(d.tags)) throw schemaError(`Tags property should be a list for parameter: ${name}`);
  const p: ParameterSchema = { type: d.type as ParameterSchema['type'] };
  if (d.label !== undefined && d.label !== null) p.label = String(d.label);
  if (d.description !== undefined && d.description !== null) p.description = String(d.description);
  if (d.default !== undefined && d.default !== null) p.default = d.default;
  if (d.hidden !== undefined) p.hidden = d.hidden === true || String(d.hidden).toLowerCase() === 'true';
  if (d.immutable !== undefined) p.immutable = d.immutable === true || String(d.immutable).toLowerCase() === 'true';
  if (Array.isArray(d.tags)) p.tags = d.tags.map(String);
  if (d.constraints !== undefined && d.constraints !== null) {
    if (!Array.isArray(d.constraints)) throw schemaError(`Invalid parameter constraints for parameter ${name}, expected a list`);
    p.constraints = d.constraints.map((c) => hotConstraint(c, spec));
  }
  return p;
}

function cfnParameter(name: string, def: unknown): ParameterSchema {
  const d = checkDict(def, CFN_PARAM_KEYS, `parameter (${name})`);
  if (!('Type' in d)) throw schemaError(`Missing parameter type for parameter: ${name}`);
  const type = CFN_TYPES[String(d.Type)];
  if (!type) throw schemaError(`Invalid type (${d.Type})`);
  const p: ParameterSchema = { type };
  if (d.Label !== undefined) p.label = String(d.Label);
  if (d.Description !== undefined) p.description = String(d.Description);
  if (d.Default !== undefined && d.Default !== null) p.default = d.Default;
  p.hidden = String(d.NoEcho ?? 'false').toLowerCase() === 'true';
  const desc = d.ConstraintDescription === undefined ? {} : { description: String(d.ConstraintDescription) };
  const constraints: ParameterConstraint[] = [];
  const pick = (lo: string, hi: string) => {
    const r: { min?: number; max?: number } = {};
    const min = num(d[lo]);
    const max = num(d[hi]);
    if (min !== undefined) r.min = min;
    if (max !== undefined) r.max = max;
    return r;
  };
  if ('MinValue' in d || 'MaxValue' in d) constraints.push({ range: pick('MinValue', 'MaxValue'), ...desc });
  if ('MinLength' in d || 'MaxLength' in d) constraints.push({ length: pick('MinLength', 'MaxLength'), ...desc });
  if ('AllowedValues' in d) constraints.push({ allowed_values: allowedValues(d.AllowedValues), ...desc });
  if ('AllowedPattern' in d) constraints.push({ allowed_pattern: allowedPattern(d.AllowedPattern), ...desc });
  if (constraints.length) p.constraints = constraints;
  return p;
}

function parseParameterGroups(v: unknown): Template['parameterGroups'] {
  if (!Array.isArray(v)) return [];
  return v.filter(isMap).map((g) => {
    const out: Template['parameterGroups'][number] = { parameters: Array.isArray(g.parameters) ? g.parameters.map(String) : [] };
    if (g.label !== undefined) out.label = String(g.label);
    if (g.description !== undefined) out.description = String(g.description);
    return out;
  });
}

// ------------------------------------------------------------------ resources, outputs, conditions

function parseResources(section: unknown, spec: VersionSpec): Record<string, ResourceDefinition> {
  if (section === undefined || section === null) return {};
  const cfn = spec.type === 'cfn';
  const sectionName = cfn ? 'Resources' : 'resources';
  if (!isMap(section)) {
    throw validationFailed(`"${sectionName}" must contain a map of resource maps. Found a [${pyTypeName(section)}] instead`);
  }
  const k = cfn
    ? { type: 'Type', props: 'Properties', meta: 'Metadata', deps: 'DependsOn', del: 'DeletionPolicy', upd: 'UpdatePolicy', desc: 'Description', ext: '', cond: 'Condition' }
    : { type: 'type', props: 'properties', meta: 'metadata', deps: 'depends_on', del: 'deletion_policy', upd: 'update_policy', desc: 'description', ext: 'external_id', cond: 'condition' };
  const out: Record<string, ResourceDefinition> = {};
  for (const name of Object.keys(section).sort()) {
    const r = section[name];
    const missingType = `Each resource must contain a ${k.type} key.`;
    if (r === null || r === undefined || (isMap(r) && Object.keys(r).length === 0)) throw validationFailed(missingType);
    if (!isMap(r)) {
      throw validationFailed(`"${sectionName}" must contain a map of resource maps. Found a [${pyTypeName(r)}] instead`);
    }
    for (const key of Object.keys(r)) {
      if (!spec.resourceKeys.includes(key)) throw validationFailed(`"${key}" is not a valid keyword inside a resource definition`);
    }
    if (!(k.type in r)) throw validationFailed(missingType);
    if (name.includes('/')) throw validationFailed('Resource name may not contain "/"');
    const mustBe = (key: string, typename: string) => validationFailed(`Resource ${name} ${key} type must be ${typename}`);
    if (typeof r[k.type] !== 'string') throw mustBe(k.type, 'string');
    if (r[k.type] === '') throw validationFailed(`Resource "${name}" has no type`);
    for (const key of [k.props, k.meta, k.upd]) {
      if (r[key] !== undefined && r[key] !== null && !isMap(r[key])) throw mustBe(key, 'object');
    }
    let deps = r[k.deps];
    if (deps === undefined || deps === null) deps = [];
    else if (typeof deps === 'string') deps = [deps];
    else if (!Array.isArray(deps)) throw mustBe(k.deps, 'list or string');
    if ((deps as unknown[]).some((d) => typeof d !== 'string')) {
      throw validationFailed(`Resource ${name} ${k.deps} must be a list of strings`);
    }
    let policy = r[k.del];
    if (policy !== undefined && policy !== null) {
      if (typeof policy !== 'string') throw mustBe(k.del, 'string');
      if (!spec.deletionPolicies.includes(policy)) throw validationFailed(`Invalid deletion policy "${policy}"`);
    }
    const normalized = (typeof policy === 'string' ? policy[0].toUpperCase() + policy.slice(1) : 'Delete') as ResourceDefinition['deletionPolicy'];
    if (r[k.desc] !== undefined && r[k.desc] !== null && typeof r[k.desc] !== 'string') throw mustBe(k.desc, 'string');
    const cond = r[k.cond];
    if (cond !== undefined && cond !== null && typeof cond !== 'string' && typeof cond !== 'boolean' && !isMap(cond)) {
      throw mustBe(k.cond, cfn ? 'string or boolean' : 'string_or_boolean');
    }
    out[name] = {
      name,
      type: r[k.type] as string,
      properties: (r[k.props] as Record<string, unknown>) ?? {},
      metadata: r[k.meta] ?? {},
      dependsOn: deps as string[],
      deletionPolicy: normalized,
      updatePolicy: (r[k.upd] as Record<string, unknown>) ?? {},
      externalId: k.ext && r[k.ext] !== undefined ? r[k.ext] : null,
      condition: cond ?? null,
    };
  }
  return out;
}

function parseOutputs(section: unknown, spec: VersionSpec): Record<string, OutputDefinition> {
  if (section === undefined || section === null) return {};
  const cfn = spec.type === 'cfn';
  const valueKey = cfn ? 'Value' : 'value';
  if (!isMap(section)) throw validationFailed(`"${cfn ? 'Outputs' : 'outputs'}" must contain a map of output maps. Found a [${pyTypeName(section)}] instead`);
  const out: Record<string, OutputDefinition> = {};
  for (const name of Object.keys(section).sort()) {
    const o = section[name];
    const where = `Output validation error: ${cfn ? 'Outputs' : 'outputs'}.${name}: `;
    if (!isMap(o)) throw validationFailed(`${where}Output definitions must be a map. Found a ${pyTypeName(o)} instead`);
    for (const key of Object.keys(o)) {
      if (!spec.outputKeys.includes(key)) throw validationFailed(`"${key}" is not a valid keyword inside a output definition`);
    }
    if (!(valueKey in o)) throw validationFailed(`${where}Each output definition must contain a ${valueKey} key.`);
    const def: OutputDefinition = { value: o[valueKey] };
    const desc = o[cfn ? 'Description' : 'description'];
    if (desc !== undefined && desc !== null) def.description = String(desc);
    const cond = o[cfn ? 'Condition' : 'condition'];
    if (cond !== undefined && cond !== null) def.condition = cond;
    out[name] = def;
  }
  return out;
}

function parseConditions(section: unknown): Record<string, unknown> {
  if (section === undefined || section === null) return {};
  if (!isMap(section)) {
    throw validationFailed(`Conditions validation error: Condition definitions must be a map. Found a ${pyTypeName(section)} instead`);
  }
  return section;
}

// ------------------------------------------------------------------ environments

const ENV_SECTIONS = ['parameters', 'resource_registry', 'parameter_defaults', 'encrypted_param_names', 'event_sinks',
  'parameter_merge_strategies'];

const envError = (m: string) => heatError(400, 'HTTPBadRequest', m);

/** An environment (YAML/JSON text or object) with its sections checked; absent sections are empty. */
export function parseEnvironment(source: string | Record<string, unknown> | undefined): Environment {
  let raw: unknown = source ?? {};
  if (typeof source === 'string') raw = parseDocument(source, 'environment');
  if (!isMap(raw)) throw envError('The environment is not a valid YAML mapping data type.');
  for (const [k, v] of Object.entries(raw)) {
    if (!ENV_SECTIONS.includes(k)) throw envError(`environment has wrong section "${k}"`);
    if (v === null || v === undefined) throw envError(`environment has empty section "${k}"`);
  }
  for (const k of ['parameters', 'resource_registry', 'parameter_defaults', 'parameter_merge_strategies']) {
    if (k in raw && !isMap(raw[k])) throw envError(`environment section "${k}" must be a map`);
  }
  for (const k of ['encrypted_param_names', 'event_sinks']) {
    if (k in raw && !Array.isArray(raw[k])) throw envError(`environment section "${k}" must be a list`);
  }
  const registry = { ...((raw.resource_registry as Record<string, unknown>) ?? {}) };
  if (!isMap(registry.resources)) registry.resources = {};
  const env: Environment = {
    parameters: { ...((raw.parameters as Record<string, unknown>) ?? {}) },
    parameter_defaults: { ...((raw.parameter_defaults as Record<string, unknown>) ?? {}) },
    resource_registry: registry,
    event_sinks: [...((raw.event_sinks as unknown[]) ?? [])],
  };
  if (raw.encrypted_param_names) env.encrypted_param_names = (raw.encrypted_param_names as unknown[]).map(String);
  if (raw.parameter_merge_strategies) (env as any).parameter_merge_strategies = raw.parameter_merge_strategies;
  return env;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isMap(v) && isMap(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

function mergeValue(old: unknown, value: unknown, strategy: string): unknown {
  if (strategy === 'overwrite' || old === undefined) return value;
  if (Array.isArray(old) && Array.isArray(value)) return [...old, ...value];
  if (typeof old === 'string' && typeof value === 'string') return old && value ? `${old},${value}` : old || value;
  if (isMap(old) && isMap(value)) return strategy === 'deep_merge' ? deepMerge(old, value) : { ...old, ...value };
  return value;
}

function mergeParams(base: Record<string, unknown>, more: Record<string, unknown>, strategies: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  const fallback = String(strategies.default ?? 'overwrite');
  for (const [k, v] of Object.entries(more)) out[k] = mergeValue(out[k], v, String(strategies[k] ?? fallback));
  return out;
}

/** Later environments win; resource_registry is deep-merged; parameter_merge_strategies (merge,
 *  deep_merge, overwrite) of each later environment apply to its parameters and parameter_defaults. */
export function mergeEnvironments(base: Environment, ...more: Partial<Environment>[]): Environment {
  let env: Environment = {
    parameters: { ...base.parameters },
    parameter_defaults: { ...base.parameter_defaults },
    resource_registry: deepMerge({ resources: {} }, base.resource_registry ?? {}),
    event_sinks: [...(base.event_sinks ?? [])],
  };
  if (base.encrypted_param_names) env.encrypted_param_names = [...base.encrypted_param_names];
  for (const m of more) {
    if (!m) continue;
    const strategies = isMap((m as any).parameter_merge_strategies) ? (m as any).parameter_merge_strategies : {};
    env = {
      parameters: mergeParams(env.parameters, m.parameters ?? {}, strategies),
      parameter_defaults: mergeParams(env.parameter_defaults, m.parameter_defaults ?? {}, strategies),
      resource_registry: deepMerge(env.resource_registry, m.resource_registry ?? {}),
      event_sinks: [...env.event_sinks, ...(m.event_sinks ?? [])],
      ...(env.encrypted_param_names || m.encrypted_param_names
        ? { encrypted_param_names: [...new Set([...(env.encrypted_param_names ?? []), ...(m.encrypted_param_names ?? [])])] }
        : {}),
    };
  }
  return env;
}
