// Template parameters: values from the user and the environment, defaults, type conversion
// and constraints, with Heat's messages ("Parameter 'x' is invalid: ...").
import type { Environment, ParameterConstraint, ParameterSchema, Template } from '../types.ts';
import { heatError } from '../types.ts';
import {
  boolFromString, formatPath, fullMatch, isMap, parameterMissing, pathError, pyIn, pyJson, pyRegExp, pyStr, schemaError, strToNum,
} from './util.ts';
import type { ApiError } from '../../core/errors.ts';

/** null = ok, else the error text. */
export type CustomCheck = (constraint: string, value: unknown) => Promise<string | null>;

export const HOT_PSEUDO = ['OS::stack_id', 'OS::stack_name', 'OS::project_id'];
export const CFN_PSEUDO = ['AWS::StackId', 'AWS::StackName', 'AWS::Region'];

const API_TYPES: Record<ParameterSchema['type'], string> = {
  string: 'String', number: 'Number', comma_delimited_list: 'CommaDelimitedList', json: 'Json', boolean: 'Boolean',
};

// Which parameter types each constraint kind applies to (Heat's valid_types).
const VALID_FOR: Record<string, ParameterSchema['type'][]> = {
  range: ['number'], modulo: ['number'], length: ['string', 'comma_delimited_list', 'json'],
  allowed_values: ['string', 'number', 'boolean', 'comma_delimited_list'], allowed_pattern: ['string'],
  custom_constraint: ['string', 'number', 'boolean', 'comma_delimited_list'],
};
const CLASS_NAMES: Record<string, string> = {
  range: 'Range', modulo: 'Modulo', length: 'Length', allowed_values: 'AllowedValues', allowed_pattern: 'AllowedPattern',
  custom_constraint: 'CustomConstraint',
};

function kindOf(c: ParameterConstraint): string {
  for (const k of ['range', 'length', 'modulo', 'allowed_values', 'allowed_pattern', 'custom_constraint']) {
    if ((c as any)[k] !== undefined) return k;
  }
  return 'none';
}

class ConstraintFailed extends Error {}

/** The value in the parameter's type, or a ConstraintFailed/TypeError with Heat's text. */
function parseValue(schema: ParameterSchema, value: unknown): unknown {
  switch (schema.type) {
    case 'number':
      return strToNum(value);
    case 'boolean':
      return boolFromString(value);
    case 'comma_delimited_list':
      if (Array.isArray(value)) return value.map(pyStr);
      if (typeof value !== 'string') throw new TypeError(`Value must be a comma-delimited list string: ${pyStr(value)}`);
      return value === '' ? [] : value.split(',');
    case 'json':
      if (typeof value !== 'string') return JSON.parse(JSON.stringify(value));
      if (value === '') return value;
      try {
        return JSON.parse(value);
      } catch (e) {
        throw new TypeError(`Value must be valid JSON: ${(e as Error).message}`);
      }
    default:
      return isMap(value) || Array.isArray(value) ? pyJson(value) : pyStr(value);
  }
}

/** Heat's to_schema_type, used to compare against allowed_values. */
function asSchemaType(type: ParameterSchema['type'], v: unknown): unknown {
  try {
    if (type === 'number') return strToNum(v);
    if (type === 'boolean') return boolFromString(v);
    if (type === 'string') return pyStr(v);
  } catch {
    return Symbol('invalid');
  }
  return v;
}

function sizeOf(v: unknown): number {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  return pyStr(v).length;
}

async function checkConstraints(schema: ParameterSchema, value: unknown, check: CustomCheck | undefined, skipCustom: boolean): Promise<void> {
  for (const c of schema.constraints ?? []) {
    const fail = (m: string): never => { throw new ConstraintFailed(c.description ?? m); };
    if (c.range) {
      const n = strToNum(value);
      if ((c.range.min !== undefined && n < c.range.min) || (c.range.max !== undefined && n > c.range.max)) {
        fail(`${pyStr(value)} is out of range (min: ${pyStr(c.range.min ?? null)}, max: ${pyStr(c.range.max ?? null)})`);
      }
    } else if (c.length) {
      const n = sizeOf(value);
      if ((c.length.min !== undefined && n < c.length.min) || (c.length.max !== undefined && n > c.length.max)) {
        fail(`length (${n}) is out of range (min: ${pyStr(c.length.min ?? null)}, max: ${pyStr(c.length.max ?? null)})`);
      }
    } else if (c.modulo) {
      const n = strToNum(value);
      const rem = ((n % c.modulo.step) + c.modulo.step) % c.modulo.step;
      const want = ((c.modulo.offset % c.modulo.step) + c.modulo.step) % c.modulo.step;
      if (rem !== want) fail(`${pyStr(value)} is not a multiple of ${c.modulo.step} with an offset of ${c.modulo.offset}`);
    } else if (c.allowed_values) {
      const allowed = c.allowed_values;
      const ok = Array.isArray(value)
        ? value.every((v) => pyIn(v, allowed))
        : pyIn(asSchemaType(schema.type, value), allowed.map((a) => asSchemaType(schema.type, a)));
      if (!ok) fail(`${pyJson(value)} is not an allowed value [${allowed.map((a) => pyJson(a)).join(', ')}]`);
    } else if (c.allowed_pattern !== undefined) {
      if (!fullMatch(pyRegExp(c.allowed_pattern), pyStr(value))) fail(`"${pyStr(value)}" does not match pattern "${c.allowed_pattern}"`);
    } else if (c.custom_constraint !== undefined && !skipCustom && check) {
      for (const item of Array.isArray(value) ? value : [value]) {
        const err = await check(c.custom_constraint, item);
        if (err !== null) fail(err);
      }
    }
  }
}

/** Schema checks (constraint kinds valid for the type, default satisfies the constraints). */
async function validateSchema(name: string, schema: ParameterSchema, defaultValue: unknown): Promise<void> {
  const invalid = (m: string) => schemaError(`Parameter '${name}' is invalid: ${m}`);
  for (const c of schema.constraints ?? []) {
    const kind = kindOf(c);
    if (kind !== 'none' && !VALID_FOR[kind].includes(schema.type)) throw invalid(`${CLASS_NAMES[kind]} constraint invalid for ${schema.type}`);
  }
  if (defaultValue === undefined || defaultValue === null) return;
  let v = defaultValue;
  try {
    if (schema.type === 'comma_delimited_list') v = Array.isArray(v) ? v.map(pyStr) : pyStr(v).split(',');
    else if (schema.type === 'json' && typeof v === 'string' && v !== '') v = JSON.parse(v);
    await checkConstraints(schema, v, undefined, true);
  } catch (e) {
    throw invalid(`Invalid default ${pyStr(defaultValue)} (${(e as Error).message})`);
  }
}

async function validateValue(name: string, schema: ParameterSchema, value: unknown, check?: CustomCheck): Promise<unknown> {
  let parsed: unknown;
  try {
    parsed = parseValue(schema, value);
    // Heat checks number/boolean/string constraints on the value as given, lists and json parsed.
    const subject = schema.type === 'comma_delimited_list' || schema.type === 'json' ? parsed
      : schema.type === 'string' ? parsed : value;
    await checkConstraints(schema, subject, check, false);
  } catch (e) {
    if (e instanceof ConstraintFailed || e instanceof TypeError || e instanceof SyntaxError) {
      throw pathError('', [], `Parameter '${name}' is invalid: ${e.message}`);
    }
    throw e;
  }
  return parsed;
}

function pseudoParameters(t: Template, stack: { name: string; id: string; projectId: string; region: string }): Record<string, unknown> {
  if (t.versionKey === 'heat_template_version') {
    const out: Record<string, unknown> = { 'OS::stack_id': stack.id, 'OS::project_id': stack.projectId };
    if (stack.name) out['OS::stack_name'] = stack.name;
    return out;
  }
  const out: Record<string, unknown> = {
    'AWS::StackId': `arn:openstack:heat::${stack.projectId}:stacks/${stack.name}/${stack.id}`,
  };
  if (stack.name) {
    out['AWS::StackName'] = stack.name;
    out['AWS::Region'] = stack.region;
  }
  return out;
}

/** The user's values: environment parameters overridden by the request's. */
function userValues(env: Environment, given: Record<string, unknown>): Record<string, unknown> {
  return { ...(env.parameters ?? {}), ...(given ?? {}) };
}

function defaultOf(name: string, schema: ParameterSchema, env: Environment): unknown {
  const pd = env.parameter_defaults ?? {};
  if (name in pd && pd[name] !== null && pd[name] !== undefined) return pd[name];
  return schema.default;
}

/**
 * Parameter values for a stack, converted to their types, plus the pseudo parameters. With
 * validateValues false (POST /validate) values are neither required nor checked, only the schema.
 */
export async function resolveParameters(t: Template, env: Environment, given: Record<string, unknown>,
  stack: { name: string; id: string; projectId: string; region: string }, check?: CustomCheck,
  opts: { validateValues?: boolean } = {}): Promise<Record<string, unknown>> {
  const validateValues = opts.validateValues ?? true;
  const user = userValues(env, given);
  for (const name of Object.keys(user)) {
    if (!(name in t.parameters)) throw heatError(400, 'UnknownUserParameter', `The Parameter (${name}) was not defined in template.`);
  }
  const out: Record<string, unknown> = pseudoParameters(t, stack);
  for (const [name, schema] of Object.entries(t.parameters)) {
    const def = defaultOf(name, schema, env);
    await validateSchema(name, schema, def);
    const given = user[name];
    const value = given !== undefined && given !== null ? given : def;
    if (value === undefined || value === null) {
      if (validateValues) throw parameterMissing(name);
      continue;
    }
    if (validateValues) out[name] = await validateValue(name, schema, value, check);
    else {
      try {
        out[name] = parseValue(schema, value);
      } catch {
        out[name] = value;
      }
    }
  }
  return out;
}

/** Heat's POST /validate view of the template's parameters. */
export function parametersView(t: Template, env: Environment, given: Record<string, unknown>): Record<string, unknown> {
  const user = userValues(env, given);
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(t.parameters)) {
    const v: Record<string, unknown> = {
      Type: API_TYPES[schema.type] ?? schema.type,
      Description: schema.description ?? '',
      NoEcho: schema.hidden ? 'true' : 'false',
      Label: schema.label ?? name,
    };
    const def = defaultOf(name, schema, env);
    if (def !== undefined && def !== null) v.Default = def;
    const uv = user[name];
    // Heat shows Value only when the user value is truthy (Python), so 0 and '' are left out.
    if (uv !== undefined && uv !== null && uv !== '' && uv !== 0 && uv !== false && !(Array.isArray(uv) && uv.length === 0)
      && !(isMap(uv) && Object.keys(uv).length === 0)) v.Value = uv;
    if (schema.tags?.length) v.Tags = schema.tags;
    const descriptions: string[] = [];
    for (const c of schema.constraints ?? []) {
      if (c.length) {
        if (c.length.min !== undefined) v.MinLength = c.length.min;
        if (c.length.max !== undefined) v.MaxLength = c.length.max;
      } else if (c.range) {
        if (c.range.min !== undefined) v.MinValue = c.range.min;
        if (c.range.max !== undefined) v.MaxValue = c.range.max;
      } else if (c.modulo) {
        v.Step = c.modulo.step;
        v.Offset = c.modulo.offset;
      } else if (c.allowed_values) v.AllowedValues = [...c.allowed_values];
      else if (c.allowed_pattern !== undefined) v.AllowedPattern = c.allowed_pattern;
      else if (c.custom_constraint !== undefined) v.CustomConstraint = c.custom_constraint;
      if (c.description) descriptions.push(c.description);
    }
    if (descriptions.length) v.ConstraintDescription = descriptions.join(' ');
    out[name] = v;
  }
  return out;
}

function groupsError(label: unknown, message: string): ApiError {
  return pathError('Parameter Groups error', ['parameter_groups', label === undefined ? '' : pyStr(label)], message);
}

export function validateParameterGroups(t: Template): void {
  const groups = t.raw.parameter_groups;
  if (groups === undefined || groups === null || t.versionKey !== 'heat_template_version') return;
  if (!Array.isArray(groups)) {
    throw pathError('Parameter Groups error', ['parameter_groups'], 'The parameter_groups should be a list.');
  }
  const seen: unknown[] = [];
  for (const g of groups) {
    const group = isMap(g) ? g : {};
    const params = group.parameters;
    if (params === undefined || params === null) throw groupsError(group.label, 'The parameters must be provided for each parameter group.');
    if (!Array.isArray(params)) throw groupsError(group.label, 'The parameters of parameter group should be a list.');
    for (const p of params) {
      if (seen.includes(p)) throw groupsError(group.label, `The ${pyStr(p)} parameter must be assigned to one parameter group only.`);
      seen.push(p);
      if (typeof p !== 'string' || !(p in t.parameters)) {
        throw groupsError(group.label, `The grouped parameter ${pyStr(p)} does not reference a valid parameter.`);
      }
    }
  }
}

/** Names of immutable parameters whose value an update changes (Heat's ImmutableParameterModified). */
export function immutableParamsModified(t: Template, oldValues: Record<string, unknown>, newValues: Record<string, unknown>): string[] {
  return Object.entries(t.parameters)
    .filter(([name, s]) => s.immutable && name in oldValues && name in newValues && pyJson(oldValues[name], true) !== pyJson(newValues[name], true))
    .map(([name]) => name);
}

export { formatPath };
