// Resource properties against a plugin's schema: Heat's coercions (a string '3' is a fine
// integer), defaults, nested map/list schemas and constraints, with errors named by the
// property's path ("Property error: resources.test.properties.value: ...").
import type { AttributeSchema, PropertyConstraint, PropertySchema } from '../types.ts';
import { validationFailed } from '../types.ts';
import type { CustomCheck } from './parameters.ts';
import { formatPath, fullMatch, isMap, pyIn, pyJson, pyRegExp, pyRepr, pyStr, strToNum } from './util.ts';

type Path = (string | number)[];

/** A value error at a path below the properties section. */
class PropError extends Error {
  readonly path: Path;
  constructor(path: Path, message: string) {
    super(message);
    this.path = path;
  }
}

function toInteger(v: unknown): number {
  if (typeof v === 'boolean') return Number(v);
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return parseInt(v, 10);
  throw new Error(`Value '${pyStr(v)}' is not an integer`);
}

function toNumber(v: unknown): number {
  try {
    return strToNum(v);
  } catch (e) {
    throw new Error((e as Error).message);
  }
}

function toStringValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v))) return pyStr(v);
  throw new Error(`Value must be a string; got ${pyRepr(v)}`);
}

function toBoolean(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (s !== 'true' && s !== 'false') throw new Error(`"${s}" is not a valid boolean`);
    return s === 'true';
  }
  throw new Error(`"${pyStr(v)}" is not a valid boolean`);
}

function zero(type: PropertySchema['type']): unknown {
  switch (type) {
    case 'string': return '';
    case 'integer': case 'number': return 0;
    case 'boolean': return false;
    case 'map': return {};
    case 'list': return [];
    default: return null;
  }
}

function sizeOf(v: unknown): number {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  return 0;
}

function schemaType(type: PropertySchema['type'], v: unknown): unknown {
  try {
    if (type === 'integer') return toInteger(v);
    if (type === 'number') return toNumber(v);
    if (type === 'string') return pyStr(v);
    if (type === 'boolean') return toBoolean(pyStr(v));
  } catch {
    return Symbol('invalid');
  }
  return v;
}

async function checkConstraints(s: PropertySchema, v: unknown, check: CustomCheck | undefined): Promise<void> {
  for (const c of s.constraints ?? []) {
    const err = await constraintError(c, s, v, check);
    if (err !== null) throw new Error(c.description ?? err);
  }
}

async function constraintError(c: PropertyConstraint, s: PropertySchema, v: unknown, check: CustomCheck | undefined): Promise<string | null> {
  const bound = (x: number | undefined) => pyStr(x ?? null);
  if (c.range) {
    const n = toNumber(v);
    if ((c.range.min !== undefined && n < c.range.min) || (c.range.max !== undefined && n > c.range.max)) {
      return `${pyStr(v)} is out of range (min: ${bound(c.range.min)}, max: ${bound(c.range.max)})`;
    }
  }
  if (c.length) {
    const n = sizeOf(v);
    if ((c.length.min !== undefined && n < c.length.min) || (c.length.max !== undefined && n > c.length.max)) {
      return `length (${n}) is out of range (min: ${bound(c.length.min)}, max: ${bound(c.length.max)})`;
    }
  }
  if (c.modulo) {
    const n = toNumber(v);
    const m = (x: number) => ((x % c.modulo!.step) + c.modulo!.step) % c.modulo!.step;
    if (m(n) !== m(c.modulo.offset)) return `${pyStr(v)} is not a multiple of ${c.modulo.step} with an offset of ${c.modulo.offset}`;
  }
  if (c.allowed_values) {
    const allowed = c.allowed_values;
    const ok = Array.isArray(v) ? v.every((x) => pyIn(x, allowed))
      : pyIn(schemaType(s.type, v), allowed.map((a) => schemaType(s.type, a)));
    if (!ok) return `${pyJson(v)} is not an allowed value [${allowed.map((a) => pyJson(a)).join(', ')}]`;
  }
  if (c.allowed_pattern !== undefined && !fullMatch(pyRegExp(c.allowed_pattern), pyStr(v))) {
    return `"${pyStr(v)}" does not match pattern "${c.allowed_pattern}"`;
  }
  if (c.custom_constraint !== undefined && check) {
    for (const item of Array.isArray(v) ? v : [v]) {
      const err = await check(c.custom_constraint, item);
      if (err !== null) return err;
    }
  }
  return null;
}

/**
 * One property's value in its type. `unresolved` values (null: an attribute of a resource not
 * created yet) get the default or the type's zero value and skip the constraints, as Heat
 * skips validating values that depend on resources still in INIT.
 */
async function propertyValue(s: PropertySchema, raw: unknown, path: Path, check: CustomCheck | undefined): Promise<unknown> {
  const unresolved = raw === null || raw === undefined;
  let v = unresolved ? (s.default ?? zero(s.type)) : raw;
  try {
    switch (s.type) {
      case 'string': v = toStringValue(v); break;
      case 'integer': v = toInteger(v); break;
      case 'number': v = toNumber(v); break;
      case 'boolean': v = toBoolean(v); break;
      case 'map':
        if (!isMap(v)) throw new Error(`"${pyStr(v)}" is not a map`);
        if (s.schema) v = await validateLevel(s.schema, v, path, check, true);
        break;
      case 'list': {
        if (!Array.isArray(v)) throw new Error(`"${pyRepr(v)}" is not a list`);
        const item = s.schema?.['*'];
        if (item) {
          const out: unknown[] = [];
          for (let i = 0; i < v.length; i++) out.push(await propertyValue(item, v[i], [...path, i], check));
          v = out;
        }
        break;
      }
      default: break;
    }
    if (!unresolved || s.default !== undefined) await checkConstraints(s, v, check);
  } catch (e) {
    if (e instanceof PropError) throw e;
    throw new PropError(path, (e as Error).message);
  }
  return v;
}

/** 'Use property network.': the property a hidden, deprecated one was replaced by. */
export function replacedBy(s: PropertySchema, schema: Record<string, PropertySchema>): string | null {
  if (s.support_status?.status !== 'HIDDEN') return null;
  const m = /^Use property (\w+)\.$/.exec(s.support_status.message ?? '');
  return m && m[1] in schema ? m[1] : null;
}

/**
 * Heat's translation rules for deprecated properties: a value given under the old name, when
 * the new one is not given, is moved to the new name (both given stay, for the plugin's conflict check).
 */
function translateDeprecated(schema: Record<string, PropertySchema>, values: Record<string, unknown>): Record<string, unknown> {
  let out = values;
  for (const [key, s] of Object.entries(schema)) {
    const target = replacedBy(s, schema);
    if (!target || values[key] === undefined || values[key] === null) continue;
    if (values[target] !== undefined && values[target] !== null) continue;
    if (out === values) out = { ...values };
    out[target] = values[key];
    delete out[key];
  }
  return out;
}

async function validateLevel(schema: Record<string, PropertySchema>, values: Record<string, unknown>, path: Path,
  check: CustomCheck | undefined, nested: boolean): Promise<Record<string, unknown>> {
  values = translateDeprecated(schema, values);
  for (const key of Object.keys(values)) {
    if (!(key in schema)) throw new PropError(nested ? path : [], `Unknown Property ${key}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(schema)) {
    const given = key in values && values[key] !== undefined;
    if (given) out[key] = await propertyValue(s, values[key], [...path, key], check);
    else if (s.default !== undefined && s.default !== null) out[key] = await propertyValue(s, s.default, [...path, key], check);
    else if (s.required) throw new PropError(path, `Property ${key} not assigned`);
    else out[key] = null;
  }
  return out;
}

/**
 * Validates resolved property values against a schema and answers them with defaults applied
 * and types coerced; absent optional properties are null (as Heat's Properties answer None).
 */
export async function validateProperties(schema: Record<string, PropertySchema>, values: Record<string, unknown>,
  where: string, check?: CustomCheck): Promise<Record<string, unknown>> {
  if (values !== undefined && values !== null && !isMap(values)) {
    throw validationFailed(`Property error: ${where}: Properties must be a map, not ${pyJson(values)}`);
  }
  try {
    return await validateLevel(schema, values ?? {}, [], check, false);
  } catch (e) {
    if (e instanceof PropError) {
      const p = formatPath([where, ...e.path].filter((x) => x !== ''));
      throw validationFailed(`Property error: ${p ? p + ': ' : ''}${e.message}`);
    }
    throw e;
  }
}

// ------------------------------------------------------------------ views and generated templates

function constraintView(c: PropertyConstraint): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (c.range) out.range = { ...c.range };
  else if (c.length) out.length = { ...c.length };
  else if (c.modulo) out.modulo = { ...c.modulo };
  else if (c.allowed_values) out.allowed_values = [...c.allowed_values];
  else if (c.allowed_pattern !== undefined) out.allowed_pattern = c.allowed_pattern;
  else if (c.custom_constraint !== undefined) out.custom_constraint = c.custom_constraint;
  if (c.description !== undefined) out.description = c.description;
  return out;
}

function schemaView(s: PropertySchema): Record<string, unknown> {
  const out: Record<string, unknown> = { type: s.type };
  if (s.description !== undefined) out.description = s.description;
  if (s.default !== undefined && s.default !== null) out.default = s.default;
  if (s.schema) out.schema = Object.fromEntries(Object.entries(s.schema).map(([k, v]) => [k, schemaView(v)]));
  out.required = s.required ?? false;
  if (s.constraints?.length) out.constraints = s.constraints.map(constraintView);
  out.update_allowed = s.update_allowed ?? false;
  out.immutable = s.immutable ?? false;
  return out;
}

const visible = (s: { support_status?: { status: string } }) => s.support_status?.status !== 'HIDDEN';

/** The 'properties' of GET /resource_types/{type} (hidden properties left out). */
export function propertiesView(schema: Record<string, PropertySchema>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(schema).filter(([, s]) => visible(s)).map(([k, s]) => [k, schemaView(s)]));
}

const HOT_PARAM_TYPES: Record<PropertySchema['type'], string> = {
  integer: 'number', string: 'string', number: 'number', boolean: 'boolean', map: 'json', list: 'comma_delimited_list', json: 'json', any: 'json',
};
const CFN_PARAM_TYPES: Record<PropertySchema['type'], string> = {
  integer: 'Number', string: 'String', number: 'Number', boolean: 'Boolean', map: 'Json', list: 'CommaDelimitedList', json: 'Json', any: 'Json',
};

function hotParam(s: PropertySchema): Record<string, unknown> {
  const out: Record<string, unknown> = { type: HOT_PARAM_TYPES[s.type] };
  if (s.description !== undefined) out.description = s.description;
  if (s.default !== undefined && s.default !== null) out.default = s.default;
  const constraints = (s.constraints ?? []).map((c) => {
    const v = constraintView(c);
    delete v.description;
    return v;
  });
  if (constraints.length) out.constraints = constraints;
  return out;
}

function cfnParam(s: PropertySchema): Record<string, unknown> {
  const out: Record<string, unknown> = { Type: CFN_PARAM_TYPES[s.type] };
  if (s.description !== undefined) out.Description = s.description;
  if (s.default !== undefined && s.default !== null) out.Default = s.default;
  for (const c of s.constraints ?? []) {
    if (c.length) {
      if (c.length.min !== undefined) out.MinLength = c.length.min;
      if (c.length.max !== undefined) out.MaxLength = c.length.max;
    } else if (c.range) {
      if (c.range.min !== undefined) out.MinValue = c.range.min;
      if (c.range.max !== undefined) out.MaxValue = c.range.max;
    } else if (c.allowed_values) out.AllowedValues = [...c.allowed_values];
    else if (c.allowed_pattern !== undefined) out.AllowedPattern = c.allowed_pattern;
  }
  if (s.type === 'boolean') out.AllowedValues = ['True', 'true', 'False', 'false'];
  return out;
}

/**
 * GET /resource_types/{type}/template: a provider template mirroring the type, its properties
 * as parameters and its attributes (plus 'show' and OS::stack_id) as outputs.
 */
export function generateTemplate(type: string, schema: Record<string, PropertySchema>, attributes: Record<string, AttributeSchema>,
  templateType: 'hot' | 'cfn'): Record<string, unknown> {
  const resName = type.split('::').pop() || type;
  const props = Object.entries(schema).filter(([, s]) => visible(s));
  const attrs: Record<string, AttributeSchema> = { ...attributes };
  if (!('show' in attrs)) attrs.show = { description: 'The backing object as its service shows it.', type: 'map' };
  const description = `Initial template of ${resName}`;
  if (templateType === 'hot') {
    const outputs: Record<string, unknown> = {};
    for (const [n, a] of Object.entries(attrs)) outputs[n] = { value: { get_attr: [resName, n] }, description: a.description };
    outputs['OS::stack_id'] = { value: { get_resource: resName } };
    return {
      heat_template_version: '2016-10-14',
      description,
      parameters: Object.fromEntries(props.map(([n, s]) => [n, hotParam(s)])),
      resources: { [resName]: { type, properties: Object.fromEntries(props.map(([n]) => [n, { get_param: n }])) } },
      outputs,
    };
  }
  const outputs: Record<string, unknown> = {};
  for (const [n, a] of Object.entries(attrs)) outputs[n] = { Value: { 'Fn::GetAtt': [resName, n] }, Description: a.description };
  outputs['OS::stack_id'] = { Value: { Ref: resName } };
  return {
    HeatTemplateFormatVersion: '2012-12-12',
    Description: description,
    Parameters: Object.fromEntries(props.map(([n, s]) => [n, cfnParam(s)])),
    Resources: {
      [resName]: {
        Type: type,
        Properties: Object.fromEntries(props.map(([n, s]) => [n, s.type === 'list' ? { 'Fn::Split': [',', { Ref: n }] } : { Ref: n }])),
      },
    },
    Outputs: outputs,
  };
}
