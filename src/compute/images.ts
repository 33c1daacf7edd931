// Nova's image proxy (deprecated): /images, /images/detail, /images/{id} (2.1–2.35) and
// /images/{id}/metadata[/{key}] (2.1–2.38). Nova has no policy of its own here: it calls Glance
// with the caller's token, so the caller sees and changes exactly what Glance allows it. We do the
// same in-process through ctx.services.image and show Glance's images as Nova's views/images.py
// does (SAVING/ACTIVE/... statuses, progress, metadata = additional properties, the snapshot's
// server). Later microversions answer 404 as if the route did not exist, like Nova.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ComputePart } from './index.ts';
import type { Context } from '../core/service.ts';
import type { ImageApi, ImageRecord } from '../image/api.ts';
import { ApiError, badRequest, forbidden, notFound } from '../core/errors.ts';
import { mv } from './microversion.ts';
import { MAX_LIMIT, isObject, nextLinks, queryAll, queryOne, resourceLinks } from './common.ts';
import { getQuotaLimits } from './quotas.ts';

/** MAX_PROXY_API_SUPPORT_VERSION and MAX_IMAGE_META_PROXY_API_VERSION in Nova. */
const LAST_IMAGES_VERSION = '2.35';
const LAST_IMAGE_METADATA_VERSION = '2.38';

/** views/images.py: Glance status → Nova status and progress (anything else: UNKNOWN, 0). */
const STATUS: Record<string, string> = {
  active: 'ACTIVE', queued: 'SAVING', saving: 'SAVING', deleted: 'DELETED', pending_delete: 'DELETED', killed: 'ERROR',
};
const PROGRESS: Record<string, number> = { queued: 25, saving: 50, active: 100 };

/** Nova's list filters and the Glance v2 parameter each becomes. */
const FILTERS: Record<string, string> = {
  name: 'name', status: 'status', server: 'instance_uuid', type: 'image_type', minRam: 'min_ram', minDisk: 'min_disk',
};

/** Nova stores these properties as JSON strings in Glance and shows them decoded. */
const JSON_PROPERTIES = ['block_device_mapping', 'mappings'];

/** parameter_types.metadata: the key pattern (values: strings of at most 255 characters). */
const METADATA_KEY = /^[a-zA-Z0-9\-_:. ]{1,255}$/;
const METADATA_KEY_SOURCE = '^[a-zA-Z0-9-_:. ]{1,255}$';

// --- helpers ------------------------------------------------------------------------------------

/** The route exists only up to `last`; Nova then answers a bare 404 (VersionNotFoundForAPIMethod). */
function requireVersion(req: FastifyRequest, last: string) {
  const [major, minor] = last.split('.').map(Number);
  if (mv(req).atLeast(`${major}.${minor + 1}`)) throw notFound('The resource could not be found.');
}

function imageApi(ctx: Context): ImageApi {
  if (!ctx.services.image) throw new ApiError(503, 'The image service is not available.');
  return ctx.services.image;
}

/** Python's repr, for validation messages written the way Nova's (jsonschema's) are. */
function pyRepr(v: unknown): string {
  if (typeof v === 'string') return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replace(/'/g, "\\'")}'`;
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return String(v);
}

/** Python's str(): strings as they are, everything else as repr. */
const pyStr = (v: unknown) => (typeof v === 'string' ? v : pyRepr(v));

function invalid(field: string, value: unknown, message: string): ApiError {
  return badRequest(`Invalid input for field/attribute ${field}. Value: ${pyStr(value)}. ${message}`);
}

/**
 * The request body as Nova's schema for it: `{<key>: metadata}` (metadata = string values of at
 * most 255 characters under keys matching METADATA_KEY); `single` adds meta's one-item rule.
 * Errors in the order Nova's validator reports the first one.
 */
function metadataBody(body: unknown, key: 'metadata' | 'meta'): Record<string, string> {
  const b = body === undefined ? null : body;
  if (!isObject(b)) throw badRequest(`${pyRepr(b)} is not of type 'object'`);
  if (key in b) {
    const md = b[key];
    if (!isObject(md)) throw invalid(key, md, `${pyRepr(md)} is not of type 'object'`);
    for (const [k, v] of Object.entries(md)) {
      if (!METADATA_KEY.test(k)) continue;
      if (typeof v !== 'string') throw invalid(k, v, `${pyRepr(v)} is not of type 'string'`);
      if ([...v].length > 255) throw invalid(k, v, `${pyRepr(v)} is too long`);
    }
    const extras = Object.keys(md).filter((k) => !METADATA_KEY.test(k)).sort();
    if (extras.length) {
      const verb = extras.length === 1 ? 'does' : 'do';
      throw invalid(key, md, `${extras.map(pyRepr).join(', ')} ${verb} not match any of the regexes: '${METADATA_KEY_SOURCE}'`);
    }
    if (key === 'meta') {
      const n = Object.keys(md).length;
      if (n < 1) throw invalid(key, md, `${pyRepr(md)} should be non-empty`);
      if (n > 1) throw invalid(key, md, `${pyRepr(md)} has too many properties`);
    }
  } else {
    throw badRequest(`'${key}' is a required property`);
  }
  const extra = Object.keys(b).filter((k) => k !== key);
  if (extra.length) throw badRequest(`Additional properties are not allowed (${extra.map(pyRepr).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`);
  return b[key] as Record<string, string>;
}

/** common.get_pagination_params: limit, page_size and offset are non-negative integers. */
function paginationParams(req: FastifyRequest): { limit?: number; marker?: string } {
  const out: { limit?: number; marker?: string } = {};
  for (const name of ['limit', 'page_size', 'offset']) {
    const all = queryAll(req, name);
    for (const v of all) {
      if (v === '') throw badRequest(`Invalid input for query parameters ${name}. Value: ${v}. '' should be non-empty`);
      if (!/^[0-9]*$/.test(v)) throw badRequest(`Invalid input for query parameters ${name}. Value: ${v}. ${pyRepr(v)} does not match '^[0-9]*$'`);
    }
    if (name === 'limit' && all.length) out.limit = Number(all[all.length - 1]);
  }
  const marker = queryOne(req, 'marker');
  if (marker !== undefined) out.marker = marker;
  return out;
}

/** Glance's refusals as Nova passes them on (a Glance 400 is Nova's 400, 403 its 403 ...). */
function fromGlance(e: unknown, imageId?: string): never {
  if (e instanceof ApiError) {
    if (e.status === 404) throw notFound('Image not found.');
    if (e.status === 403) throw forbidden(imageId ? `Not authorized for image ${imageId}.` : e.message);
    if (e.status === 400) throw badRequest(imageId ? `Request of image ${imageId} got BadRequest response: ${e.message}` : e.message);
    // Glance's own property quota (image_property_quota): a metadata limit like Nova's.
    if (e.status === 413) throw forbidden('Image metadata limit exceeded');
  }
  throw e;
}

/** The image if the caller may see it (Glance's rules); Nova's 404 "Image not found." otherwise. */
async function findImage(ctx: Context, req: FastifyRequest, id: string): Promise<ImageRecord> {
  const img = await imageApi(ctx).get(id, req.auth!);
  if (!img) throw notFound('Image not found.');
  return img;
}

/** Additional properties as Nova shows them (its JSON-encoded ones decoded). */
function metadataOf(img: ImageRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { ...img.properties };
  for (const k of JSON_PROPERTIES) {
    if (typeof out[k] !== 'string') continue;
    try { out[k] = JSON.parse(out[k] as string); } catch { /* not JSON: shown as stored */ }
  }
  return out;
}

/** common.check_img_metadata_properties_quota: the metadata_items limit of the caller. */
async function checkMetadataQuota(ctx: Context, req: FastifyRequest, count: number) {
  if (!count) return;
  const a = req.auth!;
  const limit = (await getQuotaLimits(ctx.db, a.projectId ?? '', a.userId))?.metadata_items ?? -1;
  if (limit >= 0 && count > limit) throw forbidden('Image metadata limit exceeded');
}

async function updateProperties(ctx: Context, req: FastifyRequest, id: string, change: Parameters<ImageApi['updateProperties']>[2]) {
  try {
    return await imageApi(ctx).updateProperties(id, req.auth!, change);
  } catch (e) {
    fromGlance(e, id);
  }
}

// --- views --------------------------------------------------------------------------------------

function imageLinks(ctx: Context, req: FastifyRequest, id: string) {
  const glance = ctx.catalog.find((c) => c.type === 'image')?.path ?? '/image';
  return [
    ...resourceLinks(ctx, req, 'images', id),
    { rel: 'alternate', type: 'application/vnd.openstack.image', href: `${ctx.config.publicUrl}${glance}/images/${id}` },
  ];
}

const TRUE_STRINGS = ['1', 't', 'true', 'on', 'y', 'yes'];

function detailView(ctx: Context, req: FastifyRequest, img: ImageRecord) {
  const metadata = metadataOf(img);
  const v: Record<string, unknown> = {
    id: img.id,
    name: img.name,
    minRam: img.minRam ?? 0,
    minDisk: img.minDisk ?? 0,
    metadata,
    created: img.createdAt,
    updated: img.updatedAt,
    status: STATUS[img.status] ?? 'UNKNOWN',
    progress: PROGRESS[img.status] ?? 0,
    // Glance's size is null until data is uploaded; Nova shows 0 then.
    'OS-EXT-IMG-SIZE:size': img.size ?? 0,
    links: imageLinks(ctx, req, img.id),
  };
  const server = img.properties.instance_uuid;
  if (server !== undefined) v.server = { id: server, links: resourceLinks(ctx, req, 'servers', server) };
  const adc = img.properties.auto_disk_config;
  if (adc !== undefined) v['OS-DCF:diskConfig'] = TRUE_STRINGS.includes(adc.trim().toLowerCase()) ? 'AUTO' : 'MANUAL';
  return v;
}

const basicView = (ctx: Context, req: FastifyRequest, img: ImageRecord) => ({ id: img.id, name: img.name, links: imageLinks(ctx, req, img.id) });

// --- list ---------------------------------------------------------------------------------------

/** The Glance v2 query for Nova's filters (ImagesController._get_filters + _extract_query_params_v2). */
function glanceFilters(req: FastifyRequest): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const param of Object.keys((req.query ?? {}) as object)) {
    const value = queryOne(req, param);
    if (value === undefined) continue;
    if (param in FILTERS) filters[FILTERS[param]] = value;
    else if (param === 'changes-since') filters.updated_at = `gte:${value}`;
    else if (param.startsWith('property-') && param.length > 'property-'.length) filters[param.slice('property-'.length)] = value;
  }
  // "server" may be the server's link: its last path segment is the id.
  if (filters.instance_uuid?.includes('/')) filters.instance_uuid = filters.instance_uuid.slice(filters.instance_uuid.lastIndexOf('/') + 1);
  // Glance's statuses are lower case.
  if (filters.status !== undefined) filters.status = filters.status.toLowerCase();
  return filters;
}

async function listImages(ctx: Context, req: FastifyRequest): Promise<ImageRecord[]> {
  const { limit, marker } = paginationParams(req);
  const filters = glanceFilters(req);
  // Like glanceclient under Nova: follow Glance's pages until `limit` images (0: no limit) or the end.
  const want = limit ? limit : Infinity;
  const images: ImageRecord[] = [];
  let next = marker;
  while (images.length < want) {
    const query: Record<string, string> = { ...filters, limit: String(Math.min(want - images.length, MAX_LIMIT)) };
    if (next !== undefined) query.marker = next;
    let page;
    try {
      page = await imageApi(ctx).list(req.auth!, query);
    } catch (e) {
      fromGlance(e);
    }
    images.push(...page.images);
    if (!page.nextMarker || !page.images.length) break;
    next = page.nextMarker;
  }
  return images;
}

async function listView(ctx: Context, req: FastifyRequest, detail: boolean) {
  requireVersion(req, LAST_IMAGES_VERSION);
  const images = await listImages(ctx, req);
  const out: Record<string, unknown> = {
    images: images.map((img) => (detail ? detailView(ctx, req, img) : basicView(ctx, req, img))),
  };
  // Nova's "next" link: the page is as long as min(limit, max_limit).
  const limitParam = queryOne(req, 'limit');
  const pageSize = Math.min(limitParam !== undefined ? Number(limitParam) : MAX_LIMIT, MAX_LIMIT);
  const links = nextLinks(ctx, req, detail ? 'images/detail' : 'images', images.length, images[images.length - 1]?.id, pageSize);
  if (links) out.images_links = links;
  return out;
}

// --- routes -------------------------------------------------------------------------------------

type IdParams = { Params: { id: string } };
type KeyParams = { Params: { id: string; key: string } };

async function routes(app: FastifyInstance, ctx: Context) {
  app.get('/images', async (req) => listView(ctx, req, false));
  app.get('/images/detail', async (req) => listView(ctx, req, true));

  app.get<IdParams>('/images/:id', async (req) => {
    requireVersion(req, LAST_IMAGES_VERSION);
    return { image: detailView(ctx, req, await findImage(ctx, req, req.params.id)) };
  });

  app.delete<IdParams>('/images/:id', async (req, reply) => {
    requireVersion(req, LAST_IMAGES_VERSION);
    try {
      await imageApi(ctx).deleteAs(req.params.id, req.auth!);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) throw notFound('Image not found.');
      if (e instanceof ApiError && e.status === 403) throw forbidden('You are not allowed to delete the image.');
      throw e;
    }
    return reply.code(204).send();
  });

  // --- metadata: the image's additional properties ---

  app.get<IdParams>('/images/:id/metadata', async (req) => {
    requireVersion(req, LAST_IMAGE_METADATA_VERSION);
    return { metadata: metadataOf(await findImage(ctx, req, req.params.id)) };
  });

  app.get<KeyParams>('/images/:id/metadata/:key', async (req) => {
    requireVersion(req, LAST_IMAGE_METADATA_VERSION);
    const metadata = metadataOf(await findImage(ctx, req, req.params.id));
    if (!Object.hasOwn(metadata, req.params.key)) throw notFound('The resource could not be found.');
    return { meta: { [req.params.key]: metadata[req.params.key] } };
  });

  // POST merges into the existing metadata and answers with all of it.
  app.post<IdParams>('/images/:id/metadata', async (req) => {
    requireVersion(req, LAST_IMAGE_METADATA_VERSION);
    const md = metadataBody(req.body, 'metadata');
    const img = await findImage(ctx, req, req.params.id);
    await checkMetadataQuota(ctx, req, Object.keys({ ...img.properties, ...md }).length);
    const updated = await updateProperties(ctx, req, img.id, { set: md });
    return { metadata: metadataOf(updated) };
  });

  // PUT replaces the whole metadata and answers with the request's.
  app.put<IdParams>('/images/:id/metadata', async (req) => {
    requireVersion(req, LAST_IMAGE_METADATA_VERSION);
    const md = metadataBody(req.body, 'metadata');
    const img = await findImage(ctx, req, req.params.id);
    await checkMetadataQuota(ctx, req, Object.keys(md).length);
    await updateProperties(ctx, req, img.id, { set: md, purge: true });
    return { metadata: md };
  });

  app.put<KeyParams>('/images/:id/metadata/:key', async (req) => {
    requireVersion(req, LAST_IMAGE_METADATA_VERSION);
    const meta = metadataBody(req.body, 'meta');
    if (!Object.hasOwn(meta, req.params.key)) throw badRequest('Request body and URI mismatch');
    const img = await findImage(ctx, req, req.params.id);
    await checkMetadataQuota(ctx, req, Object.keys({ ...img.properties, ...meta }).length);
    await updateProperties(ctx, req, img.id, { set: meta });
    return { meta };
  });

  app.delete<KeyParams>('/images/:id/metadata/:key', async (req, reply) => {
    requireVersion(req, LAST_IMAGE_METADATA_VERSION);
    const img = await findImage(ctx, req, req.params.id);
    if (!Object.hasOwn(img.properties, req.params.key)) throw notFound('Invalid metadata key');
    await updateProperties(ctx, req, img.id, { remove: [req.params.key] });
    return reply.code(204).send();
  });
}

export const images: ComputePart = { migrations: [], routes };
