// Helpers shared by Cinder's API files (volumes, snapshots, types, transfers ...): the list
// machinery of cinder/api/common.py (limit/marker/offset, sort=key:dir[,key:dir] or the
// deprecated sort_key/sort_dir, the `<collection>_links` next link), links, query parsing,
// booleans and metadata validation, with Cinder's 400 messages.
import type { FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Param, Queryable } from '../core/db/index.ts';
import { policyCredentials } from '../core/auth.ts';
import { ApiError, badRequest } from '../core/errors.ts';

/** Cinder's osapi_max_limit. */
export const MAX_LIMIT = 1000;
/** cinder.db.constants.DB_MAX_INT */
export const DB_MAX_INT = 0x7fffffff;

/** Cinder's 404: "<Kind> <id> could not be found." (rendered as itemNotFound by index.ts). */
export const notFoundError = (kind: string, id: string) => new ApiError(404, `${kind} ${id} could not be found.`);

/** Cinder's InvalidInput (400): "Invalid input received: <reason>". */
export const invalidInput = (reason: string) => badRequest(`Invalid input received: ${reason}`);

/** context.is_admin in Cinder: the caller passes `context_is_admin`. */
export function isAdmin(ctx: Context, req: FastifyRequest): boolean {
  return ctx.policy.check('context_is_admin', policyCredentials(req.auth!), {});
}

/** True when the caller passes `rule` (for fields shown only when policy allows). */
export function allowed(ctx: Context, req: FastifyRequest, rule: string, target: Record<string, unknown> = {}): boolean {
  return ctx.policy.check(rule, policyCredentials(req.auth!), target);
}

/** The project in the URL (/v3/{project_id}/...). */
export function urlProject(req: FastifyRequest): string {
  return String((req.params as Record<string, string> | undefined)?.project_id ?? req.auth?.projectId ?? '');
}

/** A query parameter as webob gives it: the last value when repeated. */
export function queryOne(req: FastifyRequest, name: string): string | undefined {
  const v = (req.query as Record<string, unknown> | undefined)?.[name];
  if (v === undefined || v === null) return undefined;
  return String(Array.isArray(v) ? v[v.length - 1] : v);
}

/** Every query parameter, last value of each. */
export function queryParams(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys((req.query as object | undefined) ?? {})) out[k] = queryOne(req, k)!;
  return out;
}

/** Cinder's self and bookmark links of one resource. */
export function resourceLinks(ctx: Context, req: FastifyRequest, collection: string, id: string) {
  const base = `${ctx.config.publicUrl}/volume`;
  const project = urlProject(req);
  return [
    { href: `${base}/v3/${project}/${collection}/${id}`, rel: 'self' },
    { href: `${base}/${project}/${collection}/${id}`, rel: 'bookmark' },
  ];
}

const TRUE_STRINGS = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
const FALSE_STRINGS = new Set(['0', 'f', 'false', 'off', 'n', 'no']);

/** oslo strutils.bool_from_string(strict=True), 400 with Cinder's wording otherwise. */
export function parseBool(value: unknown, name: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const s = value.trim().toLowerCase();
    if (TRUE_STRINGS.has(s)) return true;
    if (FALSE_STRINGS.has(s)) return false;
  }
  throw invalidInput(`Invalid value '${String(value)}' for ${name}: must be a boolean.`);
}

/** The lenient form (non-strict bool_from_string): anything not true-ish is false. */
export function looseBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  return typeof value === 'string' && TRUE_STRINGS.has(value.trim().toLowerCase());
}

/** utils.validate_integer: integers (or their strings) within [min, max]. */
export function validateInteger(value: unknown, name: string, min = 0, max = DB_MAX_INT): number {
  let n = NaN;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) n = Number(value.trim());
  if (!Number.isInteger(n)) throw invalidInput(`${name} must be an integer.`);
  if (n < min) throw invalidInput(`${name} must be >= ${min}.`);
  if (n > max) throw invalidInput(`${name} must be <= ${max}.`);
  return n;
}

/**
 * Cinder's metadata rules (key 1..255 characters, string values up to 255), 400 otherwise.
 * Returns the metadata as a plain string map.
 */
export function validateMetadata(value: unknown, field = 'metadata'): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${JSON.stringify(value)} is not of type 'object'`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k.length < 1 || k.length > 255) throw badRequest(`Invalid input for field/attribute ${field}. Metadata property key must be 1 to 255 characters long.`);
    if (typeof v !== 'string') throw badRequest(`Invalid input for field/attribute ${field}. Value for metadata key '${k}' must be a string.`);
    if (v.length > 255) throw badRequest(`Invalid input for field/attribute ${field}. Metadata property value for '${k}' must be 255 characters or less.`);
    out[k] = v;
  }
  return out;
}

/** A string field of a body: undefined when absent, null allowed, 400 when not a string or too long. */
export function optionalString(value: unknown, field: string, maxLength = 255): string | null | undefined {
  if (value === undefined || value === null) return value as null | undefined;
  if (typeof value !== 'string') throw badRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${JSON.stringify(value)} is not of type 'string', 'null'`);
  if (value.length > maxLength) throw badRequest(`Invalid input for field/attribute ${field}. Value: ${value}. '${value}' is too long`);
  return value;
}

// ---- lists --------------------------------------------------------------------------------

export interface Pagination {
  limit: number;
  /** True when the request gave a limit (then a full page gets a next link). */
  limitGiven: boolean;
  marker?: string;
  offset: number;
}

/** cinder.api.common.get_pagination_params. */
export function paginationParams(req: FastifyRequest): Pagination {
  const raw = queryOne(req, 'limit');
  let limit = MAX_LIMIT;
  if (raw !== undefined) {
    if (!/^\s*[-+]?\d+\s*$/.test(raw)) throw badRequest('limit param must be an integer');
    const n = Number(raw.trim());
    if (n < 0) throw badRequest('limit param must be positive');
    limit = Math.min(n, MAX_LIMIT);
  }
  const rawOffset = queryOne(req, 'offset');
  const offset = rawOffset === undefined ? 0 : validateInteger(rawOffset, 'offset', 0, DB_MAX_INT);
  const marker = queryOne(req, 'marker');
  return { limit, limitGiven: raw !== undefined, marker: marker === '' ? undefined : marker, offset };
}

export interface SortKey { key: string; dir: 'asc' | 'desc' }

/**
 * cinder.api.common.get_sort_params + the db layer's process_sort_params: `sort=k1:d1,k2` or
 * the deprecated sort_key/sort_dir (not both), each key checked against `allowedKeys`, the
 * default key (created_at) and id appended as tie-breakers in the first key's direction.
 */
export function sortParams(req: FastifyRequest, allowedKeys: readonly string[], defaultKey = 'created_at', defaultDir: 'asc' | 'desc' = 'desc'): SortKey[] {
  const sort = queryOne(req, 'sort');
  const sortKey = queryOne(req, 'sort_key');
  const sortDir = queryOne(req, 'sort_dir');
  const keys: string[] = [];
  const dirs: string[] = [];
  if (sort) {
    if (sortKey !== undefined || sortDir !== undefined) {
      throw badRequest("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.");
    }
    for (const part of sort.trim().split(',')) {
      const i = part.indexOf(':');
      const k = (i < 0 ? part : part.slice(0, i)).trim();
      const d = (i < 0 ? '' : part.slice(i + 1)).trim();
      keys.push(k);
      dirs.push(d || defaultDir);
    }
  } else {
    keys.push(sortKey ?? defaultKey);
    dirs.push(sortDir ?? defaultDir);
  }
  const out: SortKey[] = [];
  for (let i = 0; i < keys.length; i++) {
    const dir = dirs[i].toLowerCase();
    if (dir !== 'asc' && dir !== 'desc') throw invalidInput("Unknown sort direction, must be 'desc' or 'asc'");
    if (!allowedKeys.includes(keys[i])) throw invalidInput(`Invalid sort key ${keys[i]}`);
    if (!out.some((s) => s.key === keys[i])) out.push({ key: keys[i], dir });
  }
  const first = out[0]?.dir ?? defaultDir;
  for (const k of [defaultKey, 'id']) if (allowedKeys.includes(k) && !out.some((s) => s.key === k)) out.push({ key: k, dir: first });
  return out;
}

export interface ListQuery {
  /** The table (or a FROM clause with joins). */
  from: string;
  /** SELECT list; default `*`. */
  select?: string;
  /** Conditions ANDed together, with their parameters in order. */
  where: string[];
  params: Param[];
  sort: SortKey[];
  /** API sort key → SQL column (keys not listed are columns of the same name). */
  sortColumns?: Record<string, string>;
  /** Column holding the marker's id; default `id`. */
  idColumn?: string;
  page: Pagination;
  /** Thrown when the marker is not in the (filtered) list: Cinder answers 404 for its kind. */
  markerNotFound: (marker: string) => ApiError;
}

/**
 * Runs a filtered, sorted list query and applies marker/offset/limit. NULLs sort first in
 * ascending order on both dialects (as on Cinder's MySQL). The marker is looked up among the
 * filtered rows in the same order, so paging with any sort key is consistent.
 */
export async function listRows<T = Record<string, any>>(q: Queryable, lq: ListQuery): Promise<T[]> {
  const cols = lq.sortColumns ?? {};
  const order = lq.sort.map((s) => {
    const c = cols[s.key] ?? s.key;
    return `(CASE WHEN ${c} IS NULL THEN 0 ELSE 1 END) ${s.dir.toUpperCase()}, ${c} ${s.dir.toUpperCase()}`;
  }).join(', ');
  const where = lq.where.length ? ` WHERE ${lq.where.map((w) => `(${w})`).join(' AND ')}` : '';
  const rows = await q.all<any>(`SELECT ${lq.select ?? '*'} FROM ${lq.from}${where}${order ? ` ORDER BY ${order}` : ''}`, lq.params);
  let start = 0;
  if (lq.page.marker !== undefined) {
    const idc = (lq.idColumn ?? 'id').replace(/^.*\./, '');
    const i = rows.findIndex((r) => r[idc] === lq.page.marker);
    if (i < 0) throw lq.markerNotFound(lq.page.marker);
    start = i + 1;
  }
  start += lq.page.offset;
  return rows.slice(start, start + lq.page.limit) as T[];
}

/**
 * Cinder's `<collection>_links`: a next link when the page is full (the limit given, or the
 * max limit, reached), keeping the request's query parameters with the new marker.
 */
export function collectionLinks(ctx: Context, req: FastifyRequest, path: string, items: { id: string }[], page: Pagination) {
  const max = Math.min(page.limit, MAX_LIMIT);
  if (!max || items.length !== max) return undefined;
  const params = new URLSearchParams();
  const q = queryParams(req);
  for (const k of Object.keys(q).sort()) if (k !== 'marker' && k !== 'offset') params.append(k, q[k]);
  params.append('marker', items[items.length - 1].id);
  return [{ href: `${ctx.config.publicUrl}/volume/v3/${urlProject(req)}/${path}?${params.toString()}`, rel: 'next' }];
}

/** Cinder's `metadata` query filter: a Python-dict-like string, e.g. {'k': 'v'} or {"k":"v"}. */
export function parseMetadataFilter(raw: string): Record<string, string> {
  const s = raw.trim();
  try {
    const v = JSON.parse(s);
    if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
  } catch { /* fall through to the Python literal form */ }
  const m = /^\{(.*)\}$/s.exec(s);
  if (!m) throw invalidInput(`Invalid filter metadata: ${raw}`);
  const out: Record<string, string> = {};
  const re = /\s*(['"])(.*?)\1\s*:\s*(?:(['"])(.*?)\3|([^,}\s]+))\s*(,|$)/gys;
  let rest = m[1].trim();
  if (!rest) return out;
  let pos = 0;
  re.lastIndex = 0;
  while (pos < rest.length) {
    re.lastIndex = pos;
    const x = re.exec(rest);
    if (!x) throw invalidInput(`Invalid filter metadata: ${raw}`);
    out[x[2]] = x[4] ?? x[5];
    pos = re.lastIndex;
    if (!x[6]) break;
  }
  rest = rest.slice(pos).trim();
  if (rest) throw invalidInput(`Invalid filter metadata: ${raw}`);
  return out;
}
