// A small JSON-Schema validator for Nova's request schemas (the subset nova/api/openstack/
// compute/schemas/*.py use), producing the messages Nova's jsonschema-based validator gives:
// "Invalid input for field/attribute <field>. Value: <value>. <reason>". Schemas are plain
// objects so that each microversion's schema reads like Nova's.
import { isIP } from 'node:net';
import { badRequest } from '../../core/errors.ts';
import { isUuid } from '../../core/ids.ts';

export interface Schema {
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  oneOf?: Schema[];
  anyOf?: Schema[];
  format?: 'uuid' | 'base64' | 'ipv4' | 'ipv6' | 'name' | 'date-time' | 'regex' | 'name_with_leading_trailing_spaces';
}

/** Python's repr of a JSON value, as jsonschema puts it in messages. */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as object).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return String(v);
}

function typeOk(v: unknown, t: string): boolean {
  switch (t) {
    case 'string': return typeof v === 'string';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'boolean': return typeof v === 'boolean';
    case 'null': return v === null;
    case 'array': return Array.isArray(v);
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v);
    default: return false;
  }
}

const NON_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;
const NON_PRINTABLE_OR_SPACE = /[\p{C}\p{Z}]/u;

/** ISO 8601 as oslo's parse_isotime accepts it (date, optional time, optional zone). */
export function parseIsoTime(s: string): Date | null {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone] = m;
  let z = 'Z';
  if (zone && zone.toUpperCase() !== 'Z') z = zone.length === 3 ? `${zone}:00` : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${sec}.${(frac + '000').slice(0, 3)}${z}`;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (check.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 60) return null;
  return new Date(t);
}

function formatOk(v: unknown, f: string): { ok: boolean; msg?: string } {
  if (typeof v !== 'string') return { ok: true };
  switch (f) {
    case 'uuid': return { ok: isUuid(v) };
    case 'base64': return { ok: isBase64(v) };
    case 'ipv4': return { ok: isIP(v) === 4 };
    case 'ipv6': return { ok: isIP(v) === 6 };
    case 'date-time': return { ok: parseIsoTime(v) !== null };
    case 'regex': {
      if (!v) return { ok: false };
      try { new RegExp(v); return { ok: true }; } catch { return { ok: false }; }
    }
    case 'name': {
      const chars = [...v];
      if (chars.some((c) => NON_PRINTABLE.test(c)) || (chars.length && (NON_PRINTABLE_OR_SPACE.test(chars[0]) || NON_PRINTABLE_OR_SPACE.test(chars[chars.length - 1])))) {
        return { ok: false, msg: 'printable characters. Can not start or end with whitespace.' };
      }
      return { ok: true };
    }
    case 'name_with_leading_trailing_spaces': {
      const chars = [...v];
      if (chars.some((c) => NON_PRINTABLE.test(c)) || (chars.length && chars.every((c) => NON_PRINTABLE_OR_SPACE.test(c)))) {
        return { ok: false, msg: 'printable characters with at least one non space character' };
      }
      return { ok: true };
    }
    default: return { ok: true };
  }
}

/** Python's base64.b64decode (non-strict: characters outside the alphabet are discarded, padding must be right). */
export function isBase64(s: string): boolean {
  const cleaned = s.replace(/[^A-Za-z0-9+/=]/g, '');
  if (cleaned.length % 4 !== 0) return false;
  return /^[A-Za-z0-9+/]*={0,2}$/.test(cleaned);
}

function numberFromString(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return null;
}

class Invalid extends Error {
  readonly path: (string | number)[];
  readonly value: unknown;
  readonly reason: string;
  constructor(path: (string | number)[], value: unknown, reason: string) {
    super(reason);
    this.path = path;
    this.value = value;
    this.reason = reason;
  }
}

function check(s: Schema, v: unknown, path: (string | number)[]): void {
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeOk(v, t))) {
      throw new Invalid(path, v, `${pyRepr(v)} is not of type ${types.map((t) => `'${t}'`).join(', ')}`);
    }
  }
  if (s.enum && !s.enum.some((e) => e === v)) throw new Invalid(path, v, `${pyRepr(v)} is not one of ${pyRepr(s.enum)}`);
  if (typeof v === 'string') {
    const len = [...v].length;
    if (s.minLength !== undefined && len < s.minLength) throw new Invalid(path, v, `${pyRepr(v)} is too short`);
    if (s.maxLength !== undefined && len > s.maxLength) throw new Invalid(path, v, `${pyRepr(v)} is too long`);
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) throw new Invalid(path, v, `${pyRepr(v)} does not match '${s.pattern}'`);
  }
  if (s.minimum !== undefined || s.maximum !== undefined) {
    const n = numberFromString(v);
    if (n !== null && s.minimum !== undefined && n < s.minimum) throw new Invalid(path, v, `${pyRepr(v)} is less than the minimum of ${s.minimum}`);
    if (n !== null && s.maximum !== undefined && n > s.maximum) throw new Invalid(path, v, `${pyRepr(v)} is greater than the maximum of ${s.maximum}`);
  }
  if (s.format) {
    const r = formatOk(v, s.format);
    if (!r.ok) throw new Invalid(path, v, r.msg ? `${pyRepr(v)} does not match the name format: ${r.msg}` : `${pyRepr(v)} is not a '${s.format}'`);
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) throw new Invalid(path, v, `${pyRepr(v)} is too short`);
    if (s.maxItems !== undefined && v.length > s.maxItems) throw new Invalid(path, v, `${pyRepr(v)} is too long`);
    if (s.uniqueItems && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) throw new Invalid(path, v, `${pyRepr(v)} has non-unique elements`);
    if (s.items) v.forEach((x, i) => check(s.items!, x, [...path, i]));
  }
  if (typeOk(v, 'object')) {
    const o = v as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) throw new Invalid(path, v, `'${r}' is a required property`);
    const n = Object.keys(o).length;
    if (s.minProperties !== undefined && n < s.minProperties) throw new Invalid(path, v, `${pyRepr(v)} does not have enough properties`);
    if (s.maxProperties !== undefined && n > s.maxProperties) throw new Invalid(path, v, `${pyRepr(v)} has too many properties`);
    const extra: string[] = [];
    for (const [k, x] of Object.entries(o)) {
      let matched = false;
      if (s.properties && k in s.properties) { matched = true; check(s.properties[k], x, [...path, k]); }
      for (const [pat, ps] of Object.entries(s.patternProperties ?? {})) {
        if (new RegExp(pat, 'u').test(k)) { matched = true; check(ps, x, [...path, k]); }
      }
      if (!matched) {
        if (s.additionalProperties === false) extra.push(k);
        else if (typeof s.additionalProperties === 'object') check(s.additionalProperties, x, [...path, k]);
      }
    }
    if (extra.length) {
      if (s.patternProperties && !s.properties) {
        throw new Invalid(path, v, `${extra.map(pyRepr).join(', ')} ${extra.length === 1 ? 'does' : 'do'} not match any of the regexes: ${Object.keys(s.patternProperties).map(pyRepr).join(', ')}`);
      }
      throw new Invalid(path, v, `Additional properties are not allowed (${extra.map(pyRepr).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`);
    }
  }
  if (s.oneOf) {
    const ok = s.oneOf.filter((sub) => { try { check(sub, v, path); return true; } catch { return false; } });
    if (ok.length !== 1) throw new Invalid(path, v, ok.length ? `${pyRepr(v)} is valid under each of the given schemas` : `${pyRepr(v)} is not valid under any of the given schemas`);
  }
  if (s.anyOf && !s.anyOf.some((sub) => { try { check(sub, v, path); return true; } catch { return false; } })) {
    throw new Invalid(path, v, `${pyRepr(v)} is not valid under any of the given schemas`);
  }
}

/** Validates a request body; throws Nova's 400. */
export function validateBody(schema: Schema, body: unknown): void {
  try {
    check(schema, body, []);
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    if (e.path.length) {
      const field = e.path[e.path.length - 1];
      throw badRequest(`Invalid input for field/attribute ${field}. Value: ${typeof e.value === 'object' ? pyRepr(e.value) : String(e.value)}. ${e.reason}`);
    }
    throw badRequest(e.reason);
  }
}

/** Validates query parameters (each a list of strings, as webob's MultiDict gives them). */
export function validateQuery(schema: Schema, query: Record<string, string[]>): void {
  try {
    check(schema, query, []);
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    if (e.path.length) throw badRequest(`Invalid input for query parameters ${e.path[0]}. Value: ${String(e.value)}. ${e.reason}`);
    throw badRequest(e.reason);
  }
}
