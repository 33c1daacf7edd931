// Keystone validates request bodies with JSON schemas after the policy check (so an unauthorised
// caller gets 403 whatever it sends). This is the small subset of JSON Schema its schemas use,
// with Keystone's message style: "Invalid input for field 'name': 1 is not of type 'string'".
import { ApiError } from '../core/errors.ts';

export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  minProperties?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: unknown[];
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minimum?: number;
  maximum?: number;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const repr = (v: unknown) => (typeof v === 'string' ? `'${v}'` : v === null ? 'None' : JSON.stringify(v));

export function invalid(field: string, msg: string): ApiError {
  return new ApiError(400, `Invalid input for field '${field}': ${msg}`);
}

export function check(schema: Schema, value: unknown, field = 'body'): void {
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    const ok = types.some((x) => x === t || (x === 'number' && t === 'integer'));
    if (!ok) throw invalid(field, `${repr(value)} is not of type ${types.map((x) => `'${x}'`).join(', ')}`);
  }
  if (schema.enum && !schema.enum.some((e) => e === value)) throw invalid(field, `${repr(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    const len = [...value].length;
    if (schema.minLength !== undefined && len < schema.minLength) throw invalid(field, `${repr(value)} is too short`);
    if (schema.maxLength !== undefined && len > schema.maxLength) throw invalid(field, `${repr(value)} is too long`);
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) throw invalid(field, `${repr(value)} does not match '${schema.pattern}'`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) throw invalid(field, `${value} is less than the minimum of ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) throw invalid(field, `${value} is greater than the maximum of ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) throw invalid(field, `${repr(value)} is too short`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) throw invalid(field, `${repr(value)} is too long`);
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) throw invalid(field, `${repr(value)} has non-unique elements`);
    if (schema.items) value.forEach((v) => check(schema.items!, v, field));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    if (schema.minProperties !== undefined && Object.keys(obj).length < schema.minProperties) {
      throw invalid(field, `${repr(obj)} does not have enough properties`);
    }
    for (const r of schema.required ?? []) if (!(r in obj)) throw invalid(r, `'${r}' is a required property`);
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k];
      if (sub) check(sub, v, k);
      else if (schema.additionalProperties === false) {
        throw new ApiError(400, `Invalid input for field '${field}': Additional properties are not allowed ('${k}' was unexpected)`);
      }
    }
  }
}

/** The object under `key` in a request body ({"project": {...}}), validated against `schema`. */
export function member(body: unknown, key: string, schema: Schema): Record<string, any> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'The request body must be a JSON object.');
  const v = (body as Record<string, unknown>)[key];
  if (v === undefined) throw invalid(key, `'${key}' is a required property`);
  check({ type: 'object', ...schema }, v, key);
  return v as Record<string, any>;
}

// Keystone's parameter types.
export const name64: Schema = { type: 'string', minLength: 1, maxLength: 64 };
export const name255: Schema = { type: 'string', minLength: 1, maxLength: 255 };
export const description: Schema = { type: ['string', 'null'] };
export const enabled: Schema = { type: 'boolean' };
export const idString: Schema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-]+$' };
export const idOrNull: Schema = { type: ['string', 'null'], minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-]+$' };
export const url: Schema = { type: 'string', minLength: 0, maxLength: 225, pattern: '^[a-zA-Z0-9+.-]+:.+' };
export const tagName: Schema = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^,/]*$' };
export const tags: Schema = { type: 'array', items: tagName, maxItems: 80, uniqueItems: true };
