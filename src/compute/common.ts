// Small helpers shared by the compute API parts: Nova's links and paging, its input validation
// rules (name format, integer parsing, booleans) and the "is admin" check. The messages follow
// Nova's wording so that clients and Tempest see the same 400s.
import type { FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import { policyCredentials } from '../core/auth.ts';
import { badRequest } from '../core/errors.ts';

/** Nova's [api]max_limit: the most items one page holds. */
export const MAX_LIMIT = 1000;
/** nova.db.constants.MAX_INT */
export const MAX_INT = 0x7fffffff;

/** context.is_admin in Nova: the caller passes `context_is_admin`. */
export function isAdmin(ctx: Context, req: FastifyRequest): boolean {
  return ctx.policy.check('context_is_admin', policyCredentials(req.auth!), {});
}

/** True when the caller passes `rule` (for optional fields shown only when policy allows). */
export function allowed(ctx: Context, req: FastifyRequest, rule: string, target: Record<string, unknown> = {}): boolean {
  return ctx.policy.check(rule, policyCredentials(req.auth!), target);
}

/** The project the URL names (legacy /v2.1/{project_id}/...) or ''. */
function urlProject(req: FastifyRequest): string {
  const p = (req.params as Record<string, string> | undefined)?.project_id;
  return typeof p === 'string' ? p : '';
}

function join(...parts: string[]): string {
  return parts.filter((p) => p !== '').map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, ''))).join('/');
}

/** Base of the versioned API as a client reached it, e.g. http://host:5000/compute/v2.1 */
export function computeBase(ctx: Context): string {
  return `${ctx.config.publicUrl}/compute`;
}

/** Nova's self + bookmark links of one resource. */
export function resourceLinks(ctx: Context, req: FastifyRequest, collection: string, id: string | number) {
  const base = computeBase(ctx);
  const project = urlProject(req);
  return [
    { rel: 'self', href: join(`${base}/v2.1`, project, collection, String(id)) },
    { rel: 'bookmark', href: join(base, project, collection, String(id)) },
  ];
}

/** All values of a query parameter (repeated parameters arrive as an array). */
export function queryAll(req: FastifyRequest, name: string): string[] {
  const v = (req.query as Record<string, unknown> | undefined)?.[name];
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** A query parameter as webob's MultiDict.get gives it: the last value. */
export function queryOne(req: FastifyRequest, name: string): string | undefined {
  const all = queryAll(req, name);
  return all.length ? all[all.length - 1] : undefined;
}

/** strutils.validate_integer with Nova's messages. */
export function validateInteger(value: unknown, name: string, min?: number, max?: number): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) n = Number(value.trim());
  else throw badRequest(`Invalid input received: ${name} must be an integer.`);
  if (!Number.isInteger(n)) throw badRequest(`Invalid input received: ${name} must be an integer.`);
  if (min !== undefined && n < min) throw badRequest(`Invalid input received: ${name} must be >= ${min}.`);
  if (max !== undefined && n > max) throw badRequest(`Invalid input received: ${name} must be <= ${max}.`);
  return n;
}

/** Nova's get_limit_and_marker: limit (non-negative integer, capped at max_limit) and marker. */
export function limitAndMarker(req: FastifyRequest): { limit: number; marker?: string; limitGiven: boolean } {
  const raw = queryOne(req, 'limit');
  let limit = MAX_LIMIT;
  if (raw !== undefined) {
    if (!/^[0-9]+$/.test(raw)) throw badRequest(`Invalid input for query parameters limit. Value: ${raw}. '${raw}' does not match '^[0-9]*$'`);
    limit = Math.min(MAX_LIMIT, Number(raw));
  }
  return { limit, marker: queryOne(req, 'marker'), limitGiven: raw !== undefined };
}

/**
 * Nova's collection "next" link: present when the page is full (limit given and reached, or the
 * max_limit reached). The query string keeps the request's parameters with the new marker.
 */
export function nextLinks(ctx: Context, req: FastifyRequest, collection: string, count: number, lastId: string | undefined, limit: number) {
  if (!limit || count !== limit || lastId === undefined) return undefined;
  const params = new URLSearchParams();
  const q = (req.query ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(q).sort()) {
    if (k === 'marker') continue;
    const v = q[k];
    params.append(k, String(Array.isArray(v) ? v[v.length - 1] : v));
  }
  params.append('marker', lastId);
  const href = `${join(`${computeBase(ctx)}/v2.1`, urlProject(req), collection)}?${params.toString()}`;
  return [{ rel: 'next', href }];
}

/** oslo strutils.bool_from_string(strict=True) over Nova's parameter_types.boolean. */
const TRUE_STRINGS = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
const FALSE_STRINGS = new Set(['0', 'f', 'false', 'off', 'n', 'no']);
export function parseBoolean(value: unknown, name: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const s = value.trim().toLowerCase();
    if (TRUE_STRINGS.has(s)) return true;
    if (FALSE_STRINGS.has(s)) return false;
  }
  throw badRequest(`Invalid input for field/attribute ${name}. Value: ${show(value)}. ${show(value)} is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']`);
}

/** Python-ish rendering of a value inside a validation message. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  try { return JSON.stringify(v) ?? String(v); } catch { return String(v); }
}

/** Unicode "printable" as Nova defines it: not a control/format/other char, and no non-space separators. */
const NON_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;
const NON_PRINTABLE_OR_SPACE = /[\p{C}\p{Z}]/u;

/** Nova's 'name' format: printable characters, not starting or ending with white space, 1..255. */
export function checkName(value: unknown, field: string, max = 255): string {
  if (typeof value !== 'string') throw badRequest(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} is not of type 'string'`);
  if (value.length < 1) throw badRequest(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} is too short`);
  if ([...value].length > max) throw badRequest(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} is too long`);
  const chars = [...value];
  if (chars.some((c) => NON_PRINTABLE.test(c)) || NON_PRINTABLE_OR_SPACE.test(chars[0]) || NON_PRINTABLE_OR_SPACE.test(chars[chars.length - 1])) {
    throw badRequest(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} does not match the name format: printable characters. Can not start or end with whitespace.`);
  }
  return value;
}

/** Nova's description format: printable characters (spaces allowed anywhere), or null. */
export function checkDescription(value: unknown, field: string, max: number): string | null {
  if (value === null) return null;
  if (typeof value !== 'string') throw badRequest(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} is not of type 'string', 'null'`);
  if ([...value].length > max) throw badRequest(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} is too long`);
  if ([...value].some((c) => NON_PRINTABLE.test(c))) throw badRequest(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} does not match printable characters`);
  return value;
}

export const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The body's single top-level object `{key: {...}}` (Nova's schemas: required key, no other
 * top-level property). Returns the inner object.
 */
export function bodyObject(body: unknown, key: string): Record<string, any> {
  if (!isObject(body)) throw badRequest(`Invalid input for field/attribute ${key}. Value: ${show(body)}. ${show(body)} is not of type 'object'`);
  for (const k of Object.keys(body)) if (k !== key) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
  if (!(key in body)) throw badRequest(`'${key}' is a required property`);
  const inner = body[key];
  if (!isObject(inner)) throw badRequest(`Invalid input for field/attribute ${key}. Value: ${show(inner)}. ${show(inner)} is not of type 'object'`);
  return inner;
}

/** Rejects properties outside `allowed` and checks `required` ones, as additionalProperties: false does. */
export function checkKeys(obj: Record<string, any>, allowedKeys: string[], required: string[] = []) {
  for (const k of Object.keys(obj)) if (!allowedKeys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
  for (const k of required) if (!(k in obj)) throw badRequest(`'${k}' is a required property`);
}

/** Nova rejects unknown query parameters at some microversions (additionalProperties: false). */
export function checkQueryKeys(req: FastifyRequest, allowedKeys: string[]) {
  for (const k of Object.keys((req.query ?? {}) as object)) {
    if (!allowedKeys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
  }
}

/** Timestamps as Nova shows them: ISO-8601 without a zone suffix, microseconds. */
export function novaTime(iso: string | null | undefined): string | null {
  if (!iso) return null;
  return iso.replace(/Z$/, '').replace(/\.(\d{3})$/, '.$1000');
}
