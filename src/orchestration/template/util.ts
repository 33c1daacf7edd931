// Small helpers that make values and messages look the way Heat (Python) shows them: Heat
// serialises with Python's json.dumps and formats errors with str()/repr(), and users compare
// our output with Heat's.
import { heatError, validationFailed } from '../types.ts';
import type { ApiError } from '../../core/errors.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Python's type name, for messages like "Found a [list] instead". */
export function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

function pyFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return String(n);
}

/** json.dumps(value) with Python's defaults: ', ' and ': ' separators, ensure_ascii. */
export function pyJson(v: unknown, sortKeys = false): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return pyFloat(v);
  if (typeof v === 'string') {
    return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  }
  if (Array.isArray(v)) return '[' + v.map((x) => pyJson(x, sortKeys)).join(', ') + ']';
  if (isMap(v)) {
    const keys = Object.keys(v);
    if (sortKeys) keys.sort();
    return '{' + keys.map((k) => pyJson(k) + ': ' + pyJson(v[k], sortKeys)).join(', ') + '}';
  }
  return pyJson(String(v));
}

/** Python repr() of plain data, for messages that quote a value. */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return pyFloat(v);
  if (typeof v === 'string') return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return '[' + v.map(pyRepr).join(', ') + ']';
  if (isMap(v)) return '{' + Object.entries(v).map(([k, x]) => pyRepr(k) + ': ' + pyRepr(x)).join(', ') + '}';
  return String(v);
}

/** Python str(): strings as they are, everything else as repr. */
export function pyStr(v: unknown): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

/** Python ==: deep, with True == 1 and 1 == 1.0. */
export function pyEq(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const num = (x: unknown) => (typeof x === 'boolean' ? Number(x) : x);
  if ((typeof a === 'number' || typeof a === 'boolean') && (typeof b === 'number' || typeof b === 'boolean')) return num(a) === num(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEq(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && pyEq(a[k], b[k]));
  }
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  return false;
}

export function pyIn(item: unknown, seq: unknown[]): boolean {
  return seq.some((x) => pyEq(item, x));
}

const INT_RE = /^\s*[+-]?\d+\s*$/;
const FLOAT_RE = /^\s*[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf(inity)?|nan)\s*$/i;

/** Heat's str_to_num: numbers pass, strings become int or float; anything else fails like Python. */
export function strToNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return Number(v);
  if (typeof v === 'string') {
    if (INT_RE.test(v)) return parseInt(v, 10);
    if (FLOAT_RE.test(v)) {
      const s = v.trim().toLowerCase().replace(/^\+/, '');
      if (s.endsWith('inf') || s.endsWith('infinity')) return s.startsWith('-') ? -Infinity : Infinity;
      if (s.endsWith('nan')) return NaN;
      return parseFloat(s);
    }
    throw new TypeError(`could not convert string to float: ${pyRepr(v)}`);
  }
  throw new TypeError(`float() argument must be a string or a real number, not '${pyTypeName(v)}'`);
}

const TRUE_STRINGS = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE_STRINGS = ['0', 'f', 'false', 'off', 'n', 'no'];

/** oslo strutils.bool_from_string(strict=True), used for boolean parameters. */
export function boolFromString(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  const s = pyStr(v).trim().toLowerCase();
  if (TRUE_STRINGS.includes(s)) return true;
  if (FALSE_STRINGS.includes(s)) return false;
  const acceptable = [...TRUE_STRINGS, ...FALSE_STRINGS].sort().map((x) => `'${x}'`).join(', ');
  throw new TypeError(`Unrecognized value '${pyStr(v)}', acceptable values are: ${acceptable}`);
}

/** Heat's error path rendering: names joined with '.', list indices as [n]. */
export function formatPath(items: (string | number)[]): string {
  let out = '';
  for (const item of items) {
    if (typeof item === 'number' || /^\d+$/.test(item)) out += `[${item}]`;
    else if (out.length > 0) out += `.${item}`;
    else out = item;
  }
  return out;
}

/** StackValidationFailed rendered like HeatExceptionWithPath: "error: path: message". */
export function pathError(error: string, path: (string | number)[], message: string, type = 'StackValidationFailed'): ApiError {
  const p = formatPath(path);
  return validationFailed(`${error ? error + ': ' : ''}${p ? p + ': ' : ''}${message}`, type);
}

export const invalidVersion = (explanation: string) =>
  heatError(400, 'InvalidTemplateVersion', `The template version is invalid: ${explanation}`);
export const invalidReference = (resource: unknown, key: string) =>
  heatError(400, 'InvalidTemplateReference', `The specified reference "${pyStr(resource)}" (in ${key}) is incorrect.`);
export const parameterMissing = (key: string) =>
  heatError(400, 'UserParameterMissing', `The Parameter (${key}) was not provided.`);
export const schemaError = (message: string) => heatError(400, 'InvalidSchemaError', message);

/** Python regular expressions (allowed_pattern) in JS syntax, for the common differences. */
export function pyRegExp(pattern: string): RegExp {
  const js = pattern.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>').replace(/\\Z/g, '$').replace(/\\A/g, '^');
  try {
    return new RegExp(js, 'u');
  } catch {
    try {
      return new RegExp(js);
    } catch (e) {
      throw schemaError(`Invalid allowed_pattern ${pattern}: ${(e as Error).message}`);
    }
  }
}

/** Python re.match(pattern, value) that covers the whole value. */
export function fullMatch(re: RegExp, value: string): boolean {
  const anchored = new RegExp(`^(?:${re.source})`, re.flags);
  const m = anchored.exec(value);
  return m !== null && m[0].length === value.length;
}
