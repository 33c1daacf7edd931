// Intrinsic functions: resolution (async, the engine's FunctionContext supplies resources and
// attributes), condition evaluation (sync: condition functions only read parameters), and a
// static validation pass over a whole template. Which names are functions, and with which
// semantics, comes from the version's table in versions.ts.
import { createHash, getHashes } from 'node:crypto';
import type { FunctionContext, Template } from '../types.ts';
import { validationFailed } from '../types.ts';
import { ApiError } from '../../core/errors.ts';
import { ALL_FUNCTION_NAMES, versionSpec } from './versions.ts';
import type { FunctionImpl, VersionSpec } from './versions.ts';
import { CFN_PSEUDO, HOT_PSEUDO } from './parameters.ts';
import {
  formatPath, invalidReference, invalidVersion, isMap, parameterMissing, pathError, pyEq, pyIn, pyJson, pyRepr, pyStr, pyTypeName,
} from './util.ts';

type Path = (string | number)[];

/** A function's own complaint; the caller adds the path (Heat's "path.fn_name: message"). */
class FnError extends Error {}
const fail = (m: string): never => { throw new FnError(m); };

/** What `if` with two arguments answers when false from 2021-04-16: the item is left out. */
const OMIT = Symbol('omit');

export function specOf(t: Template): VersionSpec {
  const s = versionSpec(t.versionId);
  if (!s) throw invalidVersion(`"${t.versionKey}: ${t.version}" is not a known version`);
  return s;
}

function fnCall(v: unknown): [string, unknown] | null {
  if (!isMap(v)) return null;
  const keys = Object.keys(v);
  return keys.length === 1 ? [keys[0], v[keys[0]]] : null;
}

function wrap(e: unknown, path: Path): never {
  if (e instanceof ApiError) throw e;
  if (e instanceof FnError || e instanceof TypeError || e instanceof RangeError) throw pathError('', path, (e as Error).message);
  throw e;
}

const notSupported = (spec: VersionSpec, name: string) =>
  invalidVersion(`The function ${name} is not supported in this version of ${spec.type === 'hot' ? 'HOT' : 'the template format'}.`);

/** The table lookup of one single-key map: a function of this version, or a plain map. */
function lookup(spec: VersionSpec, name: string, mode: 'normal' | 'condition'): FunctionImpl | null {
  const table = mode === 'condition' ? spec.conditionFunctions : spec.functions;
  if (name in table) return table[name];
  if (mode === 'condition' && name in spec.functions) fail(`The function "${name}" is invalid in this context`);
  if (spec.removed.includes(name) || (spec.type === 'hot' && ALL_FUNCTION_NAMES.has(name))) throw notSupported(spec, name);
  return null;
}

// ------------------------------------------------------------------ argument shapes (Heat's constructors)

const isList = Array.isArray;
const JOIN_EXAMPLE = (n: string) => `"${n}" : [ " ", [ "str1", "str2"]]`;
const JOIN_MULTI_EXAMPLE = (n: string) => `"${n}" : [ " ", [ "str1", "str2"] ...]`;
const SPLIT_EXAMPLE = (n: string) => `"${n}" : [ ",", "apples,pears", <index>]`;
const MAP_REPLACE_EXAMPLE = (n: string) => `"${n}" : [ { "key1": "val1" }, {"keys": {"key1": "key2"}, "values": {"val1": "val2"}}]`;
const LIST_CONCAT_EXAMPLE = (n: string) => `"${n}" : [ [ <value 1>, <value 2> ], [ <value 3>, <value 4> ] ]`;
const FACADE = { hot: ['metadata', 'deletion_policy', 'update_policy'], cfn: ['Metadata', 'DeletionPolicy', 'UpdatePolicy'] };
const URL_KEYS = ['scheme', 'username', 'password', 'host', 'port', 'path', 'query', 'fragment'];

/** Checks made on the arguments as written, before anything is resolved. */
function checkShape(impl: FunctionImpl, name: string, args: unknown): void {
  switch (impl) {
    case 'get_attr_then_select': case 'get_attr':
      if (!isList(args)) fail(`Argument to "${name}" must be a list`);
      if ((args as unknown[]).length < 2) fail(`Arguments to "${name}" must be of the form [resource_name, attribute, (path), ...]`);
      return;
    case 'get_attr_all':
      if (!args || (isList(args) && args.length === 0)) {
        fail(`Arguments to "${name}" can be of the next forms: [resource_name] or [resource_name, attribute, (path), ...]`);
      }
      if (!isList(args)) fail(`Argument to "${name}" must be a list`);
      return;
    case 'cfn_get_att':
      if (!isList(args) || args.length !== 2) fail(`Arguments to "${name}" must be of the form [resource_name, attribute]`);
      return;
    case 'list_join': case 'cfn_join':
      if (!isList(args)) fail(`Incorrect arguments to "${name}" should be: ${JOIN_EXAMPLE(name)}`);
      if ((args as unknown[]).length !== 2) fail(`Incorrect arguments to "${name}" should be: ${JOIN_EXAMPLE(name)}`);
      return;
    case 'list_join_multiple':
      if (!isList(args) || args.length < 2) fail(`Incorrect arguments to "${name}" should be: ${JOIN_MULTI_EXAMPLE(name)}`);
      return;
    case 'str_replace': case 'str_replace_json': case 'str_replace_strict': case 'str_replace_vstrict': {
      if (!isMap(args)) fail(`Arguments to "${name}" must be a map`);
      const a = args as Record<string, unknown>;
      if (!('params' in a) || !('template' in a)) {
        fail(`"${name}" syntax should be ${name}: {template: "This is var1 template var2", params: {var1: a, var2: string}}`);
      }
      if (!isMap(a.params)) fail(`"${name}" parameters must be a mapping`);
      return;
    }
    case 'cfn_replace': {
      const ex = `{"${name}": [ {"$var1": "foo", "%var2%": "bar"}, "$var1 is %var2%"]}`;
      if (!isList(args)) fail(`Incorrect arguments to "${name}" should be: ${ex}`);
      if ((args as unknown[]).length !== 2) fail(`Incorrect arguments to "${name}" should be: ${ex}`);
      if (!isMap((args as unknown[])[0])) fail(`"${name}" parameters must be a mapping`);
      return;
    }
    case 'repeat': case 'repeat_with_map': case 'repeat_nested': {
      if (!isMap(args)) fail(`Arguments to "${name}" must be a map`);
      const a = args as Record<string, unknown>;
      if (!('for_each' in a) || !('template' in a)) {
        fail(`"repeat" syntax should be repeat: {template: "This is %var%", for_each: {"%var%": ["a", "b", "c"]}}`);
      }
      if (impl === 'repeat_nested' && 'permutations' in a && typeof a.permutations !== 'boolean') {
        fail(`"permutations" should be boolean type for ${name} function.`);
      }
      if (!fnCall(a.for_each) && !isMap(a.for_each)) fail(`The "for_each" argument to "${name}" must contain a map`);
      if (fnCall(a.for_each) === null && isMap(a.for_each) && Object.keys(a.for_each).length === 0) {
        fail(`The "for_each" argument to "${name}" must contain a map`);
      }
      return;
    }
    case 'str_split': case 'cfn_split':
      if (typeof args === 'string' || isMap(args)) {
        fail(impl === 'str_split' ? `Incorrect arguments to "${name}" should be: ${SPLIT_EXAMPLE(name)}`
          : `Incorrect arguments to "${name}" should be: "${name}" : [ ",", "str1,str2"]]`);
      }
      if (impl === 'cfn_split') {
        if (!isList(args) || args.length !== 2) fail(`Incorrect arguments to "${name}" should be: "${name}" : [ ",", "str1,str2"]]`);
        if (typeof (args as unknown[])[0] !== 'string') fail(`Delimiter for ${name} must be string`);
      }
      return;
    case 'if': case 'cfn_if': case 'if_nullable': {
      const ok = isList(args) && (impl === 'if_nullable' ? args.length >= 2 && args.length <= 3 : args.length === 3);
      if (!ok) fail(`Arguments to "${name}" must be of the form: [condition_name, value_if_true, value_if_false]`);
      return;
    }
    case 'equals': case 'cfn_equals':
      if (!isList(args) || args.length !== 2) fail(`Arguments to "${name}" must be of the form: [value_1, value_2]`);
      return;
    case 'not':
      if (args === null || args === undefined) fail(`Argument to "${name}" must be a condition`);
      return;
    case 'cfn_not':
      if (!isList(args) || args.length !== 1) fail(`Arguments to "${name}" must be of the form: [condition]`);
      return;
    case 'and': case 'or': case 'cfn_and': case 'cfn_or':
      if (!isList(args)) fail(`Arguments to "${name}" must be a list of conditions`);
      if ((args as unknown[]).length < 2) fail(`The minimum number of condition arguments to "${name}" is 2.`);
      return;
    case 'contains':
      if (!isList(args) || args.length === 0) fail(`Incorrect arguments to "${name}" should be: "${name}" : [ "value1", [ "value1", "value2"]]`);
      if ((args as unknown[]).length !== 2) fail(`Arguments to "${name}" must be of the form: [value1, [value1, value2]]`);
      return;
    case 'filter':
      if (!isList(args)) fail(`Argument to "${name}" must be a list`);
      if ((args as unknown[]).length !== 2) {
        fail(`"${name}" expected 2 arguments of the form [values, sequence] but got ${(args as unknown[]).length} arguments instead`);
      }
      return;
    case 'make_url': {
      if (!isMap(args)) fail(`The arguments to "${name}" must be a map`);
      const bad = Object.keys(args as object).filter((k) => !URL_KEYS.includes(k));
      if (bad.length) fail(`Invalid arguments to "${name}": ${bad.join(', ')}`);
      checkUrlArgs(args as Record<string, unknown>, name, true);
      return;
    }
    case 'resource_facade': case 'cfn_resource_facade': {
      const allowed = impl === 'resource_facade' ? FACADE.hot : FACADE.cfn;
      if (typeof args !== 'string' || !allowed.includes(args)) fail(`Incorrect arguments to "${name}" should be one of: ${allowed.join(', ')}`);
      return;
    }
    case 'cfn_select':
      if (!isList(args) || args.length !== 2) fail(`Arguments to "${name}" must be of the form [index, collection]`);
      return;
    case 'cfn_member_list_to_map':
      if (!isList(args) || args.length !== 3) {
        fail(`Wrong Arguments try: "{'Fn::MemberListToMap': ['Name', 'Value', ['.member.0.Name=key', '.member.0.Value=door']]}"`);
      }
      if (typeof (args as unknown[])[0] !== 'string') fail(`${name} Key Name must be a string`);
      if (typeof (args as unknown[])[1] !== 'string') fail(`${name} Value Name must be a string`);
      return;
    case 'cfn_find_in_map':
      if (!isList(args) || args.length !== 3) fail(`Arguments to "${name}" must be of the form [map_name, key, value]`);
      return;
    case 'yaql':
      fail('yaql is not supported by this cloud');
      return;
    default:
      return;
  }
}

function checkUrlArgs(args: Record<string, unknown>, name: string, unresolvedOk: boolean): void {
  for (const k of URL_KEYS) {
    if (!(k in args)) continue;
    const v = args[k];
    if (unresolvedOk && fnCall(v)) continue;
    if (k === 'query') {
      if (!isMap(v)) fail(`The "query" argument to "${name}" must be a map`);
    } else if (k === 'port') {
      const port = typeof v === 'number' ? v : /^\s*[+-]?\d+\s*$/.test(String(v)) ? parseInt(String(v), 10) : NaN;
      if (Number.isNaN(port) || !Number.isInteger(port)) fail(`Invalid URL port "${pyStr(v)}" for ${name} called with ${pyRepr(args)}`);
      if (!(port > 0 && port <= 65535)) fail(`Invalid URL port ${port}, must be in range 1-65535`);
    } else if (typeof v !== 'string') {
      fail(`The "${k}" argument to "${name}" must be a string`);
    }
  }
}

// ------------------------------------------------------------------ helpers shared by both evaluators

function traverse(value: unknown, path: unknown[], onFail: unknown, listKeysFromStrings: boolean): unknown {
  let cur = value;
  for (const key of path) {
    if (Array.isArray(cur)) {
      let idx: number;
      if (typeof key === 'number') idx = key;
      else if (typeof key === 'string' && listKeysFromStrings && /^-?\d+$/.test(key.trim())) idx = parseInt(key, 10);
      else return onFail;
      if (idx < 0) idx += cur.length;
      if (!Number.isInteger(idx) || idx < 0 || idx >= cur.length) return onFail;
      cur = cur[idx];
    } else if (isMap(cur)) {
      if (typeof key !== 'string' && typeof key !== 'number') return onFail;
      if (!(String(key) in cur)) return onFail;
      cur = cur[String(key)];
    } else return onFail;
  }
  return cur;
}

function getParam(name: string, args: unknown, params: Record<string, unknown>): unknown {
  if (args === null || args === undefined || args === '' || (isList(args) && args.length === 0) || (isMap(args) && Object.keys(args).length === 0)) fail(`Function "${name}" must have arguments`);
  let pname: unknown;
  let rest: unknown[] = [];
  if (typeof args === 'string') pname = args;
  else if (isList(args)) [pname, ...rest] = args;
  else fail(`Argument to "${name}" must be string or list`);
  if (typeof pname !== 'string') fail(`Parameter name in "${name}" must be string`);
  if (!(pname as string in params)) throw parameterMissing(pname as string);
  return traverse(params[pname as string], rest, '', true);
}

function findInMap(t: Template, args: unknown[]): unknown {
  const maps = isMap(t.raw.Mappings) ? t.raw.Mappings : {};
  const [m, k, v] = args.map((x) => pyStr(x));
  const found = traverse(maps, [m, k, v], undefined, false);
  if (found === undefined) fail(`Fn::FindInMap: no value for [${[m, k, v].join(', ')}] in Mappings`);
  return found;
}

function contains(name: string, value: unknown, seq: unknown): boolean {
  if (typeof seq === 'string') {
    if (typeof value !== 'string') fail(`'in <string>' requires string as left operand, not ${pyTypeName(value)}`);
    return seq.includes(value as string);
  }
  if (!isList(seq)) fail(`Second argument to "${name}" should be a sequence.`);
  return pyIn(value, seq as unknown[]);
}

// ------------------------------------------------------------------ conditions (sync)

interface CondCtx {
  spec: VersionSpec;
  t: Template;
  params: Record<string, unknown>;
  /** A named condition's value. */
  named(name: unknown): boolean;
}

function condValue(c: unknown, ctx: CondCtx): boolean {
  if (typeof c === 'boolean') return c;
  return ctx.named(c);
}

/** Evaluates a snippet with the condition-function table (conditions section, condition fields, if's first argument). */
function condEval(v: unknown, ctx: CondCtx, path: Path): unknown {
  if (isList(v)) return v.map((x, i) => condEval(x, ctx, [...path, i]));
  const call = fnCall(v);
  let impl: FunctionImpl | null = null;
  if (call) {
    try {
      impl = lookup(ctx.spec, call[0], 'condition');
    } catch (e) {
      wrap(e, path);
    }
  }
  if (!call || !impl) {
    if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, condEval(x, ctx, [...path, k])]));
    return v;
  }
  const [name, args] = call;
  const here = [...path, name];
  try {
    checkShape(impl, name, args);
    const R = (x: unknown) => condEval(x, ctx, here);
    switch (impl) {
      case 'get_param': return getParam(name, R(args), ctx.params);
      case 'cfn_param_ref': {
        const p = R(args);
        if (typeof p !== 'string' || !(p in ctx.params)) throw invalidReference(p, 'unknown');
        return ctx.params[p];
      }
      case 'cfn_find_in_map': return findInMap(ctx.t, R(args) as unknown[]);
      case 'equals': case 'cfn_equals': {
        const [a, b] = R(args) as unknown[];
        return pyEq(a, b);
      }
      case 'not': return !condValue(R(args), ctx);
      case 'cfn_not': return !condValue((R(args) as unknown[])[0], ctx);
      case 'and': case 'cfn_and': return (R(args) as unknown[]).map((c) => condValue(c, ctx)).every(Boolean);
      case 'or': case 'cfn_or': return (R(args) as unknown[]).map((c) => condValue(c, ctx)).some(Boolean);
      case 'contains': {
        const [a, b] = R(args) as unknown[];
        return contains(name, a, b);
      }
      default: return fail(`The function "${name}" is invalid in this context`);
    }
  } catch (e) {
    return wrap(e, here);
  }
}

const conditionError = (m: string) => validationFailed(`Condition validation error: ${m}`);

function makeCondCtx(t: Template, params: Record<string, unknown>, known?: Record<string, boolean>): CondCtx {
  const spec = specOf(t);
  const state = new Map<string, boolean | 'pending'>();
  const ctx: CondCtx = {
    spec, t, params,
    named(name: unknown): boolean {
      if (name === null || name === undefined) return true;
      if (typeof name === 'boolean') return name;
      if (typeof name !== 'string' || !(name in t.conditions)) fail(`Invalid condition "${pyStr(name)}"`);
      const n = name as string;
      if (known && n in known) return known[n];
      const s = state.get(n);
      if (s === 'pending') throw conditionError(`Circular definition for condition "${n}"`);
      if (s !== undefined) return s;
      state.set(n, 'pending');
      const def = t.conditions[n];
      const call = fnCall(def);
      if (typeof def !== 'boolean' && !(call && (call[0] in spec.conditionFunctions || call[0] in spec.functions || spec.removed.includes(call[0])))) {
        throw conditionError(`The definition of condition "${n}" is invalid: ${pyStr(def)}`);
      }
      const value = condEval(def, ctx, [spec.type === 'cfn' ? 'Conditions' : 'conditions', n]);
      if (typeof value !== 'boolean') throw conditionError(`The definition of condition "${n}" is invalid: ${pyStr(value)}`);
      state.set(n, value);
      return value;
    },
  };
  return ctx;
}

/** Evaluates every condition of the template with the given (resolved) parameters. */
export function evaluateConditions(t: Template, params: Record<string, unknown>): Record<string, boolean> {
  const ctx = makeCondCtx(t, params);
  const out: Record<string, boolean> = {};
  for (const name of Object.keys(t.conditions)) out[name] = ctx.named(name);
  return out;
}

/** A resource's or output's condition field (name, boolean, or condition expression) -> enabled. */
export function conditionHolds(cond: unknown, conditions: Record<string, boolean>, t: Template, params: Record<string, unknown>): boolean {
  if (cond === null || cond === undefined) return true;
  if (typeof cond === 'boolean') return cond;
  const ctx = makeCondCtx(t, params, conditions);
  try {
    if (typeof cond === 'string') return ctx.named(cond);
  } catch (e) {
    wrap(e, []);
  }
  const r = condEval(cond, ctx, ['condition']);
  try {
    return condValue(r, ctx);
  } catch (e) {
    return wrap(e, ['condition']);
  }
}

// ------------------------------------------------------------------ resolution (async)

interface Ctx {
  spec: VersionSpec;
  fc: FunctionContext;
  cond: CondCtx;
}

function replacementValue(impl: FunctionImpl, name: string, value: unknown, param: string): string {
  const vstrict = impl === 'str_replace_vstrict';
  const empty = () => fail(`${name} has an undefined or empty value for param ${param}, must be a defined non-empty value`);
  if (value === null || value === undefined) return vstrict ? empty() : '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    const s = pyStr(value);
    if (vstrict && s === '') empty();
    return s;
  }
  if (impl === 'str_replace' || impl === 'cfn_replace') fail(`"${name}" params must be strings or numbers, param ${param} is not valid`);
  if (isList(value) || isMap(value)) {
    if (vstrict && Object.keys(value).length === 0) empty();
    return pyJson(value, true);
  }
  return fail(`"${name}" params must be strings, numbers, list or map.`);
}

function strReplace(impl: FunctionImpl, name: string, template: unknown, mapping: unknown): string {
  if (typeof template !== 'string') fail(`"${name}" template must be a string`);
  if (!isMap(mapping)) fail(`"${name}" params must be a map`);
  const map = mapping as Record<string, unknown>;
  const keys = Object.keys(map).sort().sort((a, b) => b.length - a.length);
  const strict = impl === 'str_replace_strict' || impl === 'str_replace_vstrict';
  const unreplaced = new Set(keys);
  const rec = (strings: string[], ks: string[]): string[] => {
    if (ks.length === 0) return strings;
    const [ph, ...rest] = ks;
    if (ph === '') fail('empty separator');
    const value = replacementValue(impl, name, map[ph], ph);
    return strings.map((s) => {
      const parts = s.split(ph);
      if (parts.length > 1) unreplaced.delete(ph);
      return rec(parts, rest).join(value);
    });
  };
  const out = rec([template as string], keys)[0];
  if (strict && unreplaced.size > 0) {
    fail(`The following params were not found in the template: ${[...unreplaced].sort().sort((a, b) => b.length - a.length).join(',')}`);
  }
  return out;
}

function joinItems(name: string, delim: unknown, items: unknown[], multi: boolean): string {
  if (typeof delim !== 'string') fail(`"${name}" delimiter must be a string`);
  return items.map((s) => {
    if (s === null || s === undefined) return '';
    if (typeof s === 'string') return s;
    if (multi && (isList(s) || isMap(s))) return pyJson(s, true);
    return fail(multi ? `Items to join must be string, map or list not ${pyRepr(s).slice(0, 200)}`
      : `Items to join must be strings not ${pyRepr(s).slice(0, 200)}`);
  }).join(delim as string);
}

function repeatReplace(keys: string[], values: unknown[], template: unknown): unknown {
  if (typeof template === 'string') {
    let s = template;
    keys.forEach((k, i) => {
      const v = values[i];
      if (isMap(v) || isList(v)) throw new TypeError(`replace() argument 2 must be str, not ${pyTypeName(v)}`);
      s = s.split(k).join(pyStr(v));
    });
    return s;
  }
  if (isList(template)) return template.map((x) => repeatReplace(keys, values, x));
  if (isMap(template)) {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [repeatReplace(keys, values, k) as string, repeatReplace(keys, values, v)]));
  }
  return template;
}

function product(lists: unknown[][]): unknown[][] {
  return lists.reduce<unknown[][]>((acc, list) => acc.flatMap((combo) => list.map((x) => [...combo, x])), [[]]);
}

function repeat(impl: FunctionImpl, name: string, forEach: unknown, template: unknown, permutations: boolean): unknown[] {
  if (!isMap(forEach) || Object.keys(forEach).length === 0) fail(`The "for_each" argument to "${name}" must contain a map`);
  const keys = Object.keys(forEach as object);
  const nested = impl === 'repeat_nested' ? permutations : true;
  const allowMaps = impl === 'repeat_with_map' || (impl === 'repeat_nested' && nested);
  const lists = keys.map((k) => {
    const v = (forEach as Record<string, unknown>)[k];
    if (v === null || v === undefined) return [];
    if (isList(v)) return v;
    if (allowMaps && isMap(v)) return Object.keys(v);
    return fail(`The values of the "for_each" argument to "${name}" must be ${allowMaps ? 'lists or maps' : 'lists'}`);
  });
  if (!nested) {
    const lens = new Set(lists.map((l) => l.length));
    if (lens.size > 1) fail(`For ${name}, the length of for_each values should be equal if no nested loop.`);
  }
  const combos = nested ? product(lists) : (lists[0] ?? []).map((_, i) => lists.map((l) => l[i]));
  return combos.map((values) => repeatReplace(keys, values, template));
}

function digest(name: string, args: unknown): string {
  if (!isList(args) || !args.every((a) => typeof a === 'string')) fail(`Argument to function "${name}" must be a list of strings`);
  const a = args as string[];
  if (a.length !== 2) fail(`Function "${name}" usage: ["<algorithm>", "<value>"]`);
  const algorithm = a[0].toLowerCase();
  const available = getHashes().map((h) => h.toLowerCase());
  if (!available.includes(algorithm)) fail(`Algorithm must be one of {${available.map((h) => `'${h}'`).join(', ')}}`);
  // Heat hashes the latin-1 bytes of the value.
  const bytes = [...a[1]].every((c) => c.charCodeAt(0) < 256) ? Buffer.from(a[1], 'latin1') : Buffer.from(a[1], 'utf8');
  return createHash(algorithm).update(bytes).digest('hex');
}

function strSplit(name: string, args: unknown): unknown {
  const ex = `Incorrect arguments to "${name}" should be: ${SPLIT_EXAMPLE(name)}`;
  if (!isList(args) || args.length < 2) fail(ex);
  const [delim, str, ...rest] = args as unknown[];
  if (str === null || str === undefined) return null;
  if (typeof delim !== 'string' || typeof str !== 'string') fail(ex);
  if (delim === '') fail('empty separator');
  const parts = (str as string).split(delim as string);
  if (rest.length === 0) return parts;
  const badIndex = `Incorrect index to "${name}" should be: ${SPLIT_EXAMPLE(name)}`;
  const raw = rest[0];
  if (!(typeof raw === 'number' && Number.isInteger(raw)) && !(typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw))) fail(badIndex);
  let idx = typeof raw === 'number' ? raw : parseInt(raw as string, 10);
  if (idx < 0) idx += parts.length;
  if (idx < 0 || idx >= parts.length) fail(badIndex);
  return parts[idx];
}

function mapMerge(name: string, args: unknown): Record<string, unknown> {
  if (!isList(args)) fail(`Incorrect arguments to "${name}" should be: "${name}" : [ { "key1": "val1" }, { "key2": "val2" } ]`);
  const out: Record<string, unknown> = {};
  for (const m of args as unknown[]) {
    if (m === null || m === undefined) continue;
    if (!isMap(m)) fail(`Incorrect arguments: Items to merge must be maps. ${pyRepr(m).slice(0, 200)} is type <class '${pyTypeName(m)}'> instead of a dict`);
    Object.assign(out, m);
  }
  return out;
}

function mapReplace(name: string, args: unknown): Record<string, unknown> {
  const incorrect = `Incorrect arguments to "${name}" should be: ${MAP_REPLACE_EXAMPLE(name)}`;
  if (!isList(args) || args.length !== 2) fail(incorrect);
  const ensure = (m: unknown): Record<string, unknown> => {
    if (m === null || m === undefined) return {};
    if (isMap(m)) return m;
    return fail(`Incorrect arguments: to "${name}", arguments must be a list of maps. Example:  ${MAP_REPLACE_EXAMPLE(name)}`);
  };
  const [input, repl] = (args as unknown[]).map(ensure);
  for (const k of Object.keys(repl)) if (k !== 'keys' && k !== 'values') fail(incorrect);
  const keys = ensure(repl.keys);
  const values = ensure(repl.values);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    let key = keys[k] as unknown;
    if (key === undefined || key === null) key = k;
    else if (pyStr(key) in input && pyStr(key) !== k) fail(`key replacement ${pyStr(key)} collides with a key in the input map`);
    else if (pyStr(key) in out) fail(`key replacement ${pyStr(key)} collides with a key in the output map`);
    const hashable = typeof v === 'string' || typeof v === 'number';
    out[pyStr(key)] = hashable && String(v) in values ? values[String(v)] : v;
  }
  return out;
}

function filterList(name: string, values: unknown, seq: unknown): unknown {
  if (!seq || (isList(seq) && seq.length === 0)) return seq;
  if (!isList(seq)) fail(`"${name}" only works with lists`);
  if (!values || (isList(values) && values.length === 0)) return seq;
  if (!isList(values)) fail(`"${name}" filters a list of values`);
  return (seq as unknown[]).filter((i) => !pyIn(i, values as unknown[]));
}

function listConcat(name: string, args: unknown, unique: boolean): unknown[] {
  if (!isList(args)) fail(`Incorrect arguments to "${name}" should be: ${LIST_CONCAT_EXAMPLE(name)}`);
  const out: unknown[] = [];
  for (const m of args as unknown[]) {
    if (m === null || m === undefined) continue;
    if (!isList(m)) {
      fail(`Incorrect arguments: Items to concat must be lists. ${pyJson(args)} contains an item that is not a list: ${pyJson(m)}`);
    }
    out.push(...(m as unknown[]));
  }
  if (!unique) return out;
  const uniq: unknown[] = [];
  for (const x of out) if (!pyIn(x, uniq)) uniq.push(x);
  return uniq;
}

// Python's urllib.parse.quote: unreserved characters and `safe` stay, the rest is %XX of UTF-8.
function quote(s: string, safe: string, plus = false): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9_.\-~]/.test(c) || (byte < 128 && safe.includes(c))) out += c;
    else if (plus && c === ' ') out += '+';
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

const USES_NETLOC = ['', 'ftp', 'http', 'gopher', 'nntp', 'telnet', 'imap', 'wais', 'file', 'mms', 'https', 'shttp', 'snews',
  'prospero', 'rtsp', 'rtspu', 'rsync', 'svn', 'svn+ssh', 'sftp', 'nfs', 'git', 'git+ssh', 'ws', 'wss'];

function makeUrl(name: string, args: unknown): string {
  if (!isMap(args)) fail(`The arguments to "${name}" must be a map`);
  const a = args as Record<string, unknown>;
  checkUrlArgs(a, name, false);
  const str = (k: string) => (a[k] === undefined || a[k] === null ? '' : pyStr(a[k]));
  const scheme = str('scheme');
  if (scheme.includes(':')) fail(`URL "scheme" should not contain ':'`);
  let netloc = '';
  const username = quote(str('username'), '');
  const password = quote(str('password'), '');
  if (username || password) netloc += username + (password ? ':' + password : '') + '@';
  let host = str('host');
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  host = quote(host, ':');
  netloc += host.includes(':') ? `[${host}]` : host;
  const port = str('port');
  if (port) netloc += ':' + port;
  let url = quote(str('path'), '/');
  const query = Object.entries(isMap(a.query) ? a.query : {})
    .map(([k, v]) => `${quote(k, '', true)}=${quote(pyStr(v), '', true)}`).join('&').replace(/%2F/g, '/');
  const fragment = quote(str('fragment'), '/');
  if (netloc || (scheme && USES_NETLOC.includes(scheme) && url.slice(0, 2) !== '//')) {
    if (url && url[0] !== '/') url = '/' + url;
    url = '//' + netloc + url;
  }
  if (scheme) url = scheme + ':' + url;
  if (query) url += '?' + query;
  if (fragment) url += '#' + fragment;
  return url;
}

function select(name: string, index: unknown, collection: unknown): unknown {
  let coll = collection;
  if (coll === '') return '';
  if (typeof coll === 'string') {
    try {
      coll = JSON.parse(coll);
    } catch (e) {
      fail(`"${name}": ${(e as Error).message}`);
    }
  }
  if (isMap(coll)) {
    if (typeof index !== 'string') fail(`Index to "${name}" must be a string`);
    return (index as string) in coll ? coll[index as string] : '';
  }
  let idx: unknown = index;
  if (typeof idx === 'string' && /^\s*[+-]?\d+\s*$/.test(idx)) idx = parseInt(idx, 10);
  if (isList(coll)) {
    if (typeof idx !== 'number' || !Number.isInteger(idx)) fail(`Index to "${name}" must be an integer`);
    let i = idx as number;
    if (i < 0) i += coll.length;
    return i >= 0 && i < coll.length ? coll[i] : '';
  }
  if (coll === null || coll === undefined) return '';
  return fail(`Arguments to ${name} not fully resolved`);
}

function memberListToMap(keyName: string, valueName: string, list: unknown): Record<string, unknown> {
  if (!isList(list)) fail('Member list must be a list');
  const members = new Map<number, Record<string, string>>();
  for (const s of list as unknown[]) {
    if (typeof s !== 'string') fail('Member list items must be strings');
    const eq = (s as string).indexOf('=');
    const [k, v] = eq < 0 ? [s as string, ''] : [(s as string).slice(0, eq), (s as string).slice(eq + 1)];
    const m = /^\.member\.([0-9]+)\.(.*)$/s.exec(k);
    if (!m) continue;
    const idx = parseInt(m[1], 10);
    if (!members.has(idx)) members.set(idx, {});
    members.get(idx)![m[2]] = v;
  }
  const out: Record<string, unknown> = {};
  for (const idx of [...members.keys()].sort((a, b) => a - b)) {
    const m = members.get(idx)!;
    if (keyName in m && valueName in m) out[m[keyName]] = m[valueName];
  }
  return out;
}

async function evalNode(v: unknown, ctx: Ctx, path: Path): Promise<unknown> {
  if (isList(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) {
      const r = await evalNode(v[i], ctx, [...path, i]);
      if (r !== OMIT) out.push(r);
    }
    return out;
  }
  if (!isMap(v)) return v;
  const call = fnCall(v);
  let impl: FunctionImpl | null = null;
  if (call) {
    try {
      impl = lookup(ctx.spec, call[0], 'normal');
    } catch (e) {
      wrap(e, path);
    }
  }
  if (!call || !impl) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const r = await evalNode(x, ctx, [...path, k]);
      if (r !== OMIT) out[k] = r;
    }
    return out;
  }
  const [name, args] = call;
  const here = [...path, name];
  try {
    checkShape(impl, name, args);
    return await apply(impl, name, args, ctx, here);
  } catch (e) {
    return wrap(e, here);
  }
}

async function apply(impl: FunctionImpl, name: string, args: unknown, ctx: Ctx, here: Path): Promise<unknown> {
  const R = async (x: unknown) => {
    const r = await evalNode(x, ctx, here);
    return r === OMIT ? null : r;
  };
  const { fc } = ctx;
  const resourceName = (n: unknown): string => {
    if (typeof n !== 'string' || !(n in fc.template.resources)) throw invalidReference(n, formatPath(here.slice(0, -1)) || 'unknown');
    return n;
  };
  switch (impl) {
    case 'get_param': return getParam(name, await R(args), fc.params);
    case 'get_resource': return fc.getResource(resourceName(await R(args)));
    case 'get_attr_then_select': case 'get_attr': case 'get_attr_all': case 'cfn_get_att': {
      const [res, attr, ...rest] = (await R(args)) as unknown[];
      const r = resourceName(res);
      if ((args as unknown[]).length === 1) return fc.getAllAttrs(r);
      // An engine that resolves paths itself (groups selecting inside members) may offer getAttrPath.
      const withPath = (fc as FunctionContext & { getAttrPath?: (n: string, a: string, p: unknown[]) => Promise<unknown> }).getAttrPath;
      if (withPath && rest.length) return withPath.call(fc, r, pyStr(attr), rest);
      const value = await fc.getAttr(r, pyStr(attr));
      if (value === null || value === undefined) return null;
      return traverse(value, rest, null, true);
    }
    case 'get_file': {
      const key = await R(args);
      if (typeof key !== 'string') fail(`Argument to "${name}" must be a string`);
      const content = fc.files?.[key as string];
      if (content === undefined || content === null) fail(`No content found in the "files" section for ${name} path: ${key}`);
      return content;
    }
    case 'list_join': case 'cfn_join': {
      const [delim, strings] = (await R(args)) as unknown[];
      const list = strings === null || strings === undefined ? [] : strings;
      if (!isList(list)) fail(`"${name}" must operate on a list`);
      return joinItems(name, delim, list as unknown[], false);
    }
    case 'list_join_multiple': {
      const [delim, ...lists] = (await R(args)) as unknown[];
      const items: unknown[] = [];
      for (const l of lists) {
        if (l === null || l === undefined || l === '' || (isList(l) && l.length === 0)) continue;
        if (!isList(l)) fail(`"${name}" must operate on a list`);
        items.push(...(l as unknown[]));
      }
      return joinItems(name, delim, items, true);
    }
    case 'str_replace': case 'str_replace_json': case 'str_replace_strict': case 'str_replace_vstrict': {
      const a = args as Record<string, unknown>;
      return strReplace(impl, name, await R(a.template), await R(a.params));
    }
    case 'cfn_replace': {
      const [mapping, template] = (await R(args)) as unknown[];
      return strReplace(impl, name, template, mapping);
    }
    case 'repeat': case 'repeat_with_map': case 'repeat_nested': {
      const a = args as Record<string, unknown>;
      const forEach = await R(a.for_each);
      const template = await R(a.template);
      return repeat(impl, name, forEach, template, a.permutations !== false);
    }
    case 'digest': return digest(name, await R(args));
    case 'str_split': return strSplit(name, await R(args));
    case 'map_merge': return mapMerge(name, await R(args));
    case 'map_replace': return mapReplace(name, await R(args));
    case 'if': case 'cfn_if': case 'if_nullable': {
      const a = args as unknown[];
      const c = condEval(a[0], ctx.cond, here);
      if (condValue(c, ctx.cond)) return R(a[1]);
      if (a.length === 2) return OMIT;
      return R(a[2]);
    }
    case 'equals': case 'cfn_equals': {
      const [x, y] = (await R(args)) as unknown[];
      return pyEq(x, y);
    }
    case 'contains': {
      const [x, seq] = (await R(args)) as unknown[];
      return contains(name, x, seq);
    }
    case 'filter': {
      const [values, seq] = args as unknown[];
      return filterList(name, await R(values), await R(seq));
    }
    case 'make_url': return makeUrl(name, await R(args));
    case 'list_concat': return listConcat(name, await R(args), false);
    case 'list_concat_unique': return listConcat(name, await R(args), true);
    case 'resource_facade': case 'cfn_resource_facade': {
      const attr = FACADE.hot[(impl === 'resource_facade' ? FACADE.hot : FACADE.cfn).indexOf(args as string)];
      const facade = (fc as FunctionContext & { resourceFacade?: (a: string) => unknown }).resourceFacade;
      if (!facade) fail(`${name} is only valid in a template used by a nested stack (a provider template)`);
      return await facade!(attr);
    }
    case 'cfn_ref': {
      const n = await R(args);
      if (typeof n === 'string' && n in fc.template.resources) return fc.getResource(n);
      if (typeof n === 'string' && n in fc.params) return fc.params[n];
      throw invalidReference(n, 'unknown');
    }
    case 'cfn_param_ref': {
      const n = await R(args);
      if (typeof n === 'string' && n in fc.params) return fc.params[n];
      throw invalidReference(n, 'unknown');
    }
    case 'cfn_select': {
      const [index, coll] = (await R(args)) as unknown[];
      return select(name, index, coll);
    }
    case 'cfn_split': {
      const [delim, str] = (await R(args)) as unknown[];
      if (typeof str !== 'string') fail(`String to split must be string; got <class '${pyTypeName(str)}'>`);
      return (str as string).split(delim as string);
    }
    case 'cfn_base64': {
      const s = await R(args);
      if (typeof s !== 'string') fail(`"${name}" argument must be a string`);
      return s;
    }
    case 'cfn_get_azs': return ['nova'];
    case 'cfn_member_list_to_map': {
      const [k, v, list] = args as unknown[];
      return memberListToMap(k as string, v as string, await R(list));
    }
    case 'cfn_find_in_map': return findInMap(fc.template, (await R(args)) as unknown[]);
    default: return fail(`The function "${name}" is invalid in this context`);
  }
}

/**
 * Resolves a snippet (properties, metadata, an output value) with the template version's
 * functions. `path` (e.g. 'resources.test.properties') prefixes error messages.
 */
export async function resolve(value: unknown, fc: FunctionContext, path?: string): Promise<unknown> {
  const spec = specOf(fc.template);
  const ctx: Ctx = { spec, fc, cond: makeCondCtx(fc.template, fc.params, fc.conditions) };
  const r = await evalNode(value, ctx, path ? [path] : []);
  return r === OMIT ? undefined : r;
}

// ------------------------------------------------------------------ static analysis

function refName(impl: FunctionImpl, args: unknown, t: Template): string | null {
  switch (impl) {
    case 'get_resource': return typeof args === 'string' ? args : null;
    case 'get_attr_then_select': case 'get_attr': case 'get_attr_all': case 'cfn_get_att':
      return isList(args) && typeof args[0] === 'string' ? args[0] : null;
    case 'cfn_ref': return typeof args === 'string' && args in t.resources ? args : null;
    default: return null;
  }
}

/**
 * Names of the resources a snippet refers to (get_resource, get_attr, Ref, Fn::GetAtt), read
 * statically. With `conditions` only the chosen branch of each `if` counts (as in Heat);
 * without, both do. Names not in the template are left out (validateFunctions reports them).
 */
export function referencedResources(value: unknown, t: Template, conditions?: Record<string, boolean>,
  params?: Record<string, unknown>): Set<string> {
  const spec = specOf(t);
  const out = new Set<string>();
  const cond = conditions ? makeCondCtx(t, params ?? {}, conditions) : null;
  const walk = (v: unknown): void => {
    if (isList(v)) return v.forEach(walk);
    if (!isMap(v)) return;
    const call = fnCall(v);
    const impl = call && call[0] in spec.functions ? spec.functions[call[0]] : null;
    if (!call || !impl) return Object.values(v).forEach(walk);
    const [, args] = call;
    const n = refName(impl, args, t);
    if (n !== null && n in t.resources) out.add(n);
    if ((impl === 'if' || impl === 'if_nullable' || impl === 'cfn_if') && cond && isList(args) && args.length >= 2) {
      let chosen: unknown;
      try {
        chosen = condValue(condEval(args[0], cond, []), cond) ? args[1] : args[2];
      } catch {
        return [args[1], args[2]].forEach(walk);
      }
      return walk(chosen);
    }
    walk(args);
  };
  walk(value);
  return out;
}

interface StaticCtx {
  t: Template;
  spec: VersionSpec;
  params: Set<string>;
  files?: Record<string, string>;
  /** Whether get_param of an undeclared parameter is reported here (not for properties and outputs). */
  checkParams: boolean;
}

function staticNode(v: unknown, sc: StaticCtx, path: Path, mode: 'normal' | 'condition'): void {
  if (isList(v)) return v.forEach((x, i) => staticNode(x, sc, [...path, i], mode));
  if (!isMap(v)) return;
  const call = fnCall(v);
  let impl: FunctionImpl | null = null;
  if (call) {
    try {
      impl = lookup(sc.spec, call[0], mode);
    } catch (e) {
      wrap(e, path);
    }
  }
  if (!call || !impl) {
    for (const [k, x] of Object.entries(v)) staticNode(x, sc, [...path, k], mode);
    return;
  }
  const [name, args] = call;
  const here = [...path, name];
  try {
    checkShape(impl, name, args);
    const { t } = sc;
    const where = formatPath(path) || 'unknown';
    if (impl === 'get_param') {
      const p = typeof args === 'string' ? args : isList(args) ? args[0] : undefined;
      if (sc.checkParams && typeof p === 'string' && !sc.params.has(p)) fail(`The Parameter (${p}) was not provided.`);
    }
    if (impl === 'cfn_ref' || impl === 'cfn_param_ref') {
      if (typeof args === 'string' && !(impl === 'cfn_ref' && args in t.resources) && !sc.params.has(args)) throw invalidReference(args, 'unknown');
    }
    const n = impl === 'cfn_ref' ? null : refName(impl, args, t);
    if (n !== null && !(n in t.resources)) throw invalidReference(n, where);
    if (impl === 'get_file' && sc.files && typeof args === 'string' && !(args in sc.files)) {
      fail(`No content found in the "files" section for ${name} path: ${args}`);
    }
    if (impl === 'digest' && isList(args) && args.every((a) => typeof a === 'string')) digest(name, args);
    if (impl === 'if' || impl === 'if_nullable' || impl === 'cfn_if') {
      const a = args as unknown[];
      if (typeof a[0] === 'string' && !(a[0] in t.conditions)) fail(`Invalid condition "${a[0]}"`);
      staticNode(a[0], sc, here, 'condition');
      a.slice(1).forEach((x) => staticNode(x, sc, here, mode));
      return;
    }
    if ((impl === 'not' || impl === 'cfn_not' || impl === 'and' || impl === 'or' || impl === 'cfn_and' || impl === 'cfn_or')) {
      for (const c of impl === 'not' ? [args] : (args as unknown[])) {
        if (typeof c === 'string' && !(c in t.conditions)) fail(`Invalid condition "${c}"`);
      }
    }
    staticNode(args, sc, here, mode);
  } catch (e) {
    wrap(e, here);
  }
}

/**
 * Static checks of function usage over a whole template: functions unknown to the version,
 * argument shapes, get_param of undeclared parameters, references to undeclared resources and
 * conditions. `files`, when given, is checked for get_file keys. As in Heat, get_param of an
 * undeclared parameter in properties or outputs is not an error here: properties report it when
 * resolved for validation ('Property error: ...'), an output shows it as its output_error.
 */
export function validateFunctions(t: Template, opts: { files?: Record<string, string> } = {}): void {
  const spec = specOf(t);
  const cfn = spec.type === 'cfn';
  const sc: StaticCtx = {
    t, spec, files: opts.files, checkParams: true,
    params: new Set([...Object.keys(t.parameters), ...(cfn ? CFN_PSEUDO : HOT_PSEUDO)]),
  };
  const S = cfn
    ? { res: 'Resources', props: 'Properties', meta: 'Metadata', upd: 'UpdatePolicy', cond: 'Condition', out: 'Outputs', value: 'Value', conds: 'Conditions' }
    : { res: 'resources', props: 'properties', meta: 'metadata', upd: 'update_policy', cond: 'condition', out: 'outputs', value: 'value', conds: 'conditions' };
  const checkCondField = (c: unknown, path: Path) => {
    if (c === null || c === undefined || typeof c === 'boolean') return;
    if (typeof c === 'string') {
      if (!(c in t.conditions)) throw pathError('', path, `Invalid condition "${c}"`);
      return;
    }
    staticNode(c, sc, path, 'condition');
  };
  for (const [name, def] of Object.entries(t.conditions)) {
    const call = fnCall(def);
    if (typeof def !== 'boolean' && !call) throw conditionError(`The definition of condition "${name}" is invalid: ${pyStr(def)}`);
    staticNode(def, sc, [S.conds, name], 'condition');
  }
  for (const r of Object.values(t.resources)) {
    const base = [S.res, r.name];
    staticNode(r.properties, { ...sc, checkParams: false }, [...base, S.props], 'normal');
    staticNode(r.metadata, sc, [...base, S.meta], 'normal');
    staticNode(r.updatePolicy, sc, [...base, S.upd], 'normal');
    if (!cfn) staticNode(r.externalId, sc, [...base, 'external_id'], 'normal');
    checkCondField(r.condition, [...base, S.cond]);
  }
  for (const [name, o] of Object.entries(t.outputs)) {
    staticNode(o.value, { ...sc, checkParams: false }, [S.out, name, S.value], 'normal');
    checkCondField(o.condition, [S.out, name, S.cond]);
  }
}
