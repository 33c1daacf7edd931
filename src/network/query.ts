// Neutron's list semantics over views: every attribute is a filter (a repeated key means any of
// the values), `fields` picks attributes, sort_key/sort_dir pairs sort, limit/marker/page_reverse
// page, and `<collection>_links` carry the next/previous pages. Resources load what the caller
// may see (narrowed in SQL where that is cheap); this applies the rest to the views.
import type { FastifyRequest } from 'fastify';
import { badRequest } from '../core/errors.ts';

const CONTROL = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse']);

/** The query string as Neutron reads it: every key → all its values. */
export function queryOf(req: FastifyRequest): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const raw = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
  for (const [k, v] of new URLSearchParams(raw)) out.set(k, [...(out.get(k) ?? []), v]);
  return out;
}

/** First value of a filter key, for resources that narrow their SQL by it. */
export const first = (q: Map<string, string[]>, key: string) => q.get(key)?.[0];

function matches(value: unknown, wanted: string[]): boolean {
  if (Array.isArray(value)) return value.some((v) => matches(v, wanted));
  if (typeof value === 'boolean') return wanted.some((w) => w.toLowerCase() === String(value));
  if (value === null || value === undefined) return wanted.some((w) => w === '' || w.toLowerCase() === 'none');
  if (typeof value === 'object') return false;
  return wanted.includes(String(value));
}

export interface ListOptions {
  /** Filters the resource handles itself (e.g. fixed_ips=ip_address=...). */
  custom?: Record<string, (view: Record<string, any>, values: string[]) => boolean>;
  /** Attributes that cannot be filtered on (their values are not scalars Neutron compares). */
  ignore?: string[];
}

/**
 * Filters, sorts, pages and projects `views` as GET /v2.0/<collection> does; returns the body.
 * `baseUrl` is the collection's public URL (for links).
 */
export function listResponse(collection: string, views: Record<string, any>[], q: Map<string, string[]>, baseUrl: string, o: ListOptions = {}) {
  let items = views;
  for (const [key, values] of q) {
    if (CONTROL.has(key) || o.ignore?.includes(key)) continue;
    const custom = o.custom?.[key];
    if (custom) { items = items.filter((v) => custom(v, values)); continue; }
    // Unknown attributes are ignored, as Neutron does without the filter-validation extension.
    if (!items.length || !(key in items[0])) continue;
    items = items.filter((v) => matches(v[key], values));
  }

  const keys = q.get('sort_key') ?? [];
  const dirs = q.get('sort_dir') ?? [];
  if (dirs.length > keys.length) throw badRequest('The number of sort_keys and sort_dirs must be same');
  for (const d of dirs) if (d !== 'asc' && d !== 'desc') throw badRequest(`Invalid input for sort_dir: ${d}. Valid values are asc and desc.`);
  const sample = views[0];
  for (const k of keys) if (sample && !(k in sample)) throw badRequest(`${k} is an invalid attribute for sort_keys`);
  const order = [...keys.map((k, i) => ({ k, desc: dirs[i] === 'desc' }))];
  if (!keys.includes('id')) order.push({ k: 'id', desc: order[0]?.desc ?? false });
  items = [...items].sort((a, b) => {
    for (const { k, desc } of order) {
      const c = compare(a[k], b[k]);
      if (c) return desc ? -c : c;
    }
    return 0;
  });

  const limitRaw = q.get('limit')?.[0];
  let limit = 0;
  if (limitRaw !== undefined) {
    if (!/^-?\d+$/.test(limitRaw)) throw badRequest(`Invalid input for limit: '${limitRaw}' is not an integer`);
    limit = Number(limitRaw);
    if (limit < 0) throw badRequest(`Invalid input for limit: '${limitRaw}' should be non-negative`);
  }
  const marker = q.get('marker')?.[0];
  const reverse = (q.get('page_reverse')?.[0] ?? '').toLowerCase() === 'true';
  let page = items;
  let more = false;
  if (limit > 0 || marker) {
    const seq = reverse ? [...items].reverse() : items;
    let start = 0;
    if (marker) {
      const at = seq.findIndex((v) => v.id === marker);
      start = at >= 0 ? at + 1 : 0;
    }
    page = limit > 0 ? seq.slice(start, start + limit) : seq.slice(start);
    more = limit > 0 && start + limit < seq.length;
    if (reverse) page = page.reverse();
  }

  const fields = q.get('fields');
  const body: Record<string, unknown> = { [collection]: fields?.length ? page.map((v) => pick(v, fields)) : page };
  if (limit > 0) {
    const links: { rel: string; href: string }[] = [];
    const link = (rel: string, m: string, rev: boolean) => {
      const p = new URLSearchParams();
      for (const [k, vs] of q) if (k !== 'marker' && k !== 'page_reverse') for (const v of vs) p.append(k, v);
      p.set('marker', m);
      if (rev) p.set('page_reverse', 'True');
      links.push({ rel, href: `${baseUrl}?${p}` });
    };
    if (page.length) {
      if (reverse) {
        if (more) link('previous', page[0].id, true);
        link('next', page.at(-1)!.id, false);
      } else {
        if (more) link('next', page.at(-1)!.id, false);
        if (marker) link('previous', page[0].id, true);
      }
    }
    if (links.length) body[`${collection}_links`] = links;
  }
  return body;
}

/** One view with only the asked-for fields (GET /{collection}/{id}?fields=...). */
export function showFields(view: Record<string, any>, q: Map<string, string[]>) {
  const fields = q.get('fields');
  return fields?.length ? pick(view, fields) : view;
}

function pick(v: Record<string, any>, fields: string[]) {
  const out: Record<string, any> = {};
  for (const f of fields) if (f in v) out[f] = v[f];
  return out;
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return String(a) < String(b) ? -1 : 1;
}
