// What every Neutron resource shares: body validation in Neutron's words, policy checks with the
// resource as target, visibility of project-owned rows, tags and revision numbers with If-Match.
import type { FastifyRequest } from 'fastify';
import type { AuthContext } from '../core/auth.ts';
import type { Context } from '../core/service.ts';
import type { Queryable } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';

export const isAdmin = (auth: AuthContext) => auth.roles.includes('admin');

/** A NeutronError with its type, e.g. neutronError(404, 'NetworkNotFound', 'Network x could not be found.'). */
export const neutronError = (status: number, type: string, message: string) => new ApiError(status, message, { name: type });

export function authorize(ctx: Context, req: FastifyRequest, action: string, target: Record<string, unknown>) {
  ctx.policy.authorize(action, req.auth!, { project_id: target.project_id ?? target.tenant_id, tenant_id: target.project_id ?? target.tenant_id, ...target });
}

/** The body's resource object: {"network": {...}} → {...}; 400 as Neutron otherwise. */
export function resourceBody(body: unknown, name: string): Record<string, any> {
  const b = body as Record<string, any> | null;
  if (!b || typeof b !== 'object' || Array.isArray(b) || !(name in b)) throw badRequest(`Resource body required`);
  const r = b[name];
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw badRequest(`Invalid format: ${JSON.stringify(r)}`);
  return r;
}

/** Refuses attributes the resource does not have (Neutron: "Unrecognized attribute(s)"). */
export function onlyAttributes(r: Record<string, unknown>, allowed: string[]) {
  const extra = Object.keys(r).filter((k) => !allowed.includes(k));
  if (extra.length) throw badRequest(`Unrecognized attribute(s) '${extra.join(', ')}'`);
}

/** Attributes that may not be changed after create. */
export function immutable(r: Record<string, unknown>, names: string[], resource: string) {
  for (const n of names) if (n in r) throw badRequest(`Cannot update read-only attribute ${n}`);
  void resource;
}

export function str(r: Record<string, unknown>, key: string, max = 255): string | undefined {
  const v = r[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badRequest(`Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not a valid string.`);
  if (v.length > max) throw badRequest(`Invalid input for ${key}. Reason: '${v.slice(0, 40)}...' exceeds maximum length of ${max}.`);
  return v;
}

/** Neutron's convert_to_boolean: true/false, "true"/"false" (any case), 0/1. */
export function boolAttr(r: Record<string, unknown>, key: string): boolean | undefined {
  const v = r[key];
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw badRequest(`Invalid input for ${key}. Reason: '${JSON.stringify(v)}' cannot be converted to boolean.`);
}

export function intAttr(r: Record<string, unknown>, key: string): number | undefined {
  const v = r[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw badRequest(`Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not an integer.`);
  return n;
}

/** The project a new resource belongs to: the caller's, or another one only for admins. */
export function ownerOf(req: FastifyRequest, r: Record<string, unknown>): string {
  const auth = req.auth!;
  const t = r.project_id ?? r.tenant_id;
  if (r.project_id !== undefined && r.tenant_id !== undefined && r.project_id !== r.tenant_id) throw badRequest("'project_id' and 'tenant_id' do not match");
  if (t === undefined) {
    if (!auth.projectId) throw badRequest("'project_id' must be specified");
    return auth.projectId;
  }
  if (typeof t !== 'string' || !t) throw badRequest(`Invalid input for project_id. Reason: '${JSON.stringify(t)}' is not a valid string.`);
  return t;
}

/** If-Match: revision_number=N on updates/deletes (standard-attr-revisions); 412 when it moved on. */
export function checkRevision(req: FastifyRequest, current: number) {
  const h = req.headers['if-match'];
  if (!h) return;
  for (const part of String(h).split(',')) {
    const m = /^\s*revision_number=(\d+)\s*$/.exec(part);
    if (!m) throw badRequest(`Invalid If-Match header: ${h}`);
    if (Number(m[1]) !== current) throw neutronError(412, 'RevisionNumberConstraintFailed', `Constrained to ${m[1]}, but current revision is ${current}`);
  }
}

export async function tagsOf(q: Queryable, type: string, ids: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!ids.length) return out;
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = await q.all(`SELECT resource_id, tag FROM neutron_tags WHERE resource_type = ? AND resource_id IN (${chunk.map(() => '?').join(',')}) ORDER BY tag`, [type, ...chunk]);
    for (const r of rows) out.set(r.resource_id, [...(out.get(r.resource_id) ?? []), r.tag]);
  }
  return out;
}

/** Filters on tags (tags=a,b all; tags-any; not-tags; not-tags-any) as the standard-attr-tag extension. */
export const TAG_FILTERS = {
  tags: (v: Record<string, any>, vals: string[]) => vals.every((s) => s.split(',').every((t) => v.tags.includes(t))),
  'tags-any': (v: Record<string, any>, vals: string[]) => vals.some((s) => s.split(',').some((t) => v.tags.includes(t))),
  'not-tags': (v: Record<string, any>, vals: string[]) => !vals.every((s) => s.split(',').every((t) => v.tags.includes(t))),
  'not-tags-any': (v: Record<string, any>, vals: string[]) => !vals.some((s) => s.split(',').some((t) => v.tags.includes(t))),
};

/** Public URL of a collection (for paging links). */
export const collectionUrl = (ctx: Context, collection: string) => `${ctx.config.publicUrl}/networking/v2.0/${collection}`;
