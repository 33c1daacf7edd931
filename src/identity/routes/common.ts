// Small helpers shared by the identity routes: Keystone's boolean query values, collection
// envelopes and request-body access.
import type { FastifyRequest } from 'fastify';
import type { Keystone } from '../keystone.ts';

/** As Keystone's query_filter_is_true: a bare `?flag` or 1/true/yes/on (any case) is true. */
export function boolQuery(v: unknown): boolean {
  if (v === undefined) return false;
  const s = String(v).toLowerCase();
  return s === '' || ['1', 't', 'true', 'on', 'y', 'yes'].includes(s);
}

/** `enabled=...` filters: Keystone treats 0/false/no/off (any case) as false, anything else as true. */
export function enabledFilter(v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  return !['0', 'false', 'f', 'no', 'n', 'off'].includes(String(v).toLowerCase());
}

export function query(req: FastifyRequest): Record<string, string> {
  const q = req.query as Record<string, string | string[]>;
  const out: Record<string, string> = {};
  // A repeated parameter counts with its last value, as Flask's args.get does with the first;
  // either way one value.
  for (const [k, v] of Object.entries(q ?? {})) out[k] = Array.isArray(v) ? v[0] : v;
  return out;
}

/** Keystone's collection envelope. */
export function collection(ks: Keystone, req: FastifyRequest, key: string, items: unknown[]) {
  const qs = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
  const path = req.url.split('?')[0].replace(/^\/identity\/v3/, '');
  return { [key]: items, links: { self: `${ks.v3}${path}${qs}`, previous: null, next: null } };
}
