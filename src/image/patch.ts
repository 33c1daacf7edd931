// PATCH /v2/images/{id}: Glance's JSON-patch dialects. application/openstack-images-v2.1-json-patch
// is RFC 6902 style ({"op": "add", "path": "/name", "value": ...}); the deprecated
// application/openstack-images-v2.0-json-patch is the older draft ({"add": "/name", "value": ...})
// in which "add" refuses to overwrite. Parsing validates everything before anything is applied.
import { badRequest, forbidden, glanceError } from './errors.ts';
import { validateImage, BASE_PROPERTIES } from './schema.ts';

export const PATCH_MEDIA_TYPES: Record<string, 4 | 10> = {
  'application/openstack-images-v2.0-json-patch': 4,
  'application/openstack-images-v2.1-json-patch': 10,
};

export interface Change {
  op: 'add' | 'remove' | 'replace';
  path: string[];
  value?: unknown;
  draft: 4 | 10;
}

const OPS = ['add', 'remove', 'replace'] as const;
const READONLY = ['created_at', 'updated_at', 'status', 'checksum', 'size', 'virtual_size', 'direct_url', 'self',
  'file', 'schema', 'id', 'os_hash_algo', 'os_hash_value'];
export const RESERVED = ['location', 'deleted', 'deleted_at'];
export const RESERVED_NAMESPACE = 'os_glance';
const PATH_DEPTH: Record<string, Record<string, number>> = { locations: { add: 2, remove: 2, replace: 1 } };

/** The media type of a Content-Type header value, without parameters, lower-cased. */
export function mediaType(ct: string | undefined): string {
  return (ct ?? '').split(';')[0].trim().toLowerCase();
}

/** 415 for any other media type, as Glance answers, with the Accept-Patch header. */
export function patchDraft(contentType: string | undefined): 4 | 10 {
  const draft = PATCH_MEDIA_TYPES[mediaType(contentType)];
  if (draft) return draft;
  const allowed = Object.keys(PATCH_MEDIA_TYPES).sort().join(', ');
  throw glanceError(415, undefined, `Image PATCH expects Content-Type one of: ${allowed}`, { 'Accept-Patch': allowed });
}

function decodePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string') throw badRequest(`Pointer \`${String(pointer)}\` does not start with "/".`);
  if (!pointer.startsWith('/')) throw badRequest(`Pointer \`${pointer}\` does not start with "/".`);
  if (/\/\s*?\//.test(pointer.slice(1))) throw badRequest(`Pointer \`${pointer}\` contains adjacent "/".`);
  if (pointer.length > 1 && pointer.endsWith('/')) throw badRequest(`Pointer \`${pointer}\` end with "/".`);
  if (pointer.slice(1).trim() === '/') throw badRequest(`Pointer \`${pointer}\` does not contains valid token.`);
  if (/~[^01]/.test(pointer) || pointer.endsWith('~')) {
    throw badRequest(`Pointer \`${pointer}\` contains "~" not part of a recognized escape sequence.`);
  }
  return pointer.replace(/^\/+/, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~').trim());
}

/** Parses and validates a PATCH body into changes; throws Glance's 400/403 on the first bad one. */
export function parsePatch(body: unknown, draft: 4 | 10): Change[] {
  if (body === undefined) throw badRequest('Body expected in request.');
  if (!Array.isArray(body)) throw badRequest('Request body must be a JSON array of operation objects.');
  const changes: Change[] = [];
  for (const raw of body) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('Operations must be JSON objects.');
    let op: Change['op'];
    let pointer: unknown;
    if (draft === 10) {
      const o = (raw as any).op;
      if (o === undefined || o === null) {
        throw badRequest(`Unable to find \`op\` in JSON Schema change. It must be one of the following: ${OPS.join(', ')}.`);
      }
      if (!OPS.includes(o)) throw badRequest(`Invalid operation: \`${o}\`. It must be one of the following: ${OPS.join(', ')}.`);
      op = o;
      if (!('path' in raw)) throw badRequest("Unable to find 'path' in JSON Schema change");
      pointer = (raw as any).path;
    } else {
      const present = OPS.filter((k) => k in raw);
      if (present.length > 1) throw badRequest('Operation objects must contain only one member named "add", "remove", or "replace".');
      if (!present.length) throw badRequest('Operation objects must contain exactly one member named "add", "remove", or "replace".');
      op = present[0];
      pointer = (raw as any)[op];
    }
    const path = decodePointer(pointer);
    const root = path[0];
    if (path.length !== (PATH_DEPTH[root]?.[op] ?? 1)) throw badRequest(`Invalid JSON pointer for this resource: '/${path.join('/')}'`);
    const change: Change = { op, path, draft };
    if (op !== 'remove') {
      if (!('value' in raw)) throw badRequest(`Operation "${op}" requires a member named "value".`);
      change.value = (raw as any).value;
    }
    if (READONLY.includes(root)) throw forbidden(`Attribute '${root}' is read-only.`);
    if (RESERVED.includes(root) || root.startsWith(RESERVED_NAMESPACE)) throw forbidden(`Attribute '${root}' is reserved.`);
    if (op !== 'remove') {
      let partial: Record<string, unknown> | null = null;
      if (path.length === 1) partial = { [root]: change.value };
      else if (BASE_PROPERTIES[root]?.type === 'array') partial = { [root]: [change.value] };
      if (partial) {
        const err = validateImage(partial);
        if (err) throw badRequest(err);
      }
    }
    changes.push(change);
  }
  return changes;
}
