// Nova's image proxy (/images and /images/{id}/metadata, removed at 2.36): Glance's images seen
// through the compute API as Nova's views/images.py shows them (SAVING/ACTIVE statuses, progress,
// the server a snapshot came from), calling the image service in-process as the caller.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { ApiError, badRequest, forbidden, notFound } from '../../core/errors.ts';
import { isUuid } from '../../core/ids.ts';
import { mv } from '../microversion.ts';
import { limitAndMarker, nextLinks, queryOne, resourceLinks } from '../common.ts';
import { getQuotaLimits } from '../quotas.ts';
import { imageService } from '../../image/index.ts';
import type { Change } from '../../image/patch.ts';
import { metadataItemSchema, metadataSetSchema } from './schemas.ts';
import { validateBody } from './validate.ts';
import { isoTime } from './views.ts';

/** Removed at 2.36 (MAX_PROXY_API_SUPPORT_VERSION = 2.35): the route answers 404 from then on. */
function proxyVersion(req: FastifyRequest) {
  if (mv(req).atLeast('2.36')) throw notFound('The resource could not be found.');
}

const STATUS: Record<string, string> = { active: 'ACTIVE', queued: 'SAVING', saving: 'SAVING', deleted: 'DELETED', pending_delete: 'DELETED', killed: 'ERROR' };
const PROGRESS: Record<string, number> = { queued: 25, saving: 50, active: 100 };

function links(ctx: Context, req: FastifyRequest, id: string) {
  return [...resourceLinks(ctx, req, 'images', id), { rel: 'alternate', type: 'application/vnd.openstack.image', href: `${ctx.config.publicUrl}/image/images/${id}` }];
}

function detailView(ctx: Context, req: FastifyRequest, img: any) {
  const props: Record<string, string> = img.properties ?? {};
  const out: Record<string, unknown> = {
    id: img.id, name: img.name, minRam: Number(img.minRam ?? 0), minDisk: Number(img.minDisk ?? 0), metadata: props,
    created: isoTime(img.createdAt), updated: isoTime(img.updatedAt), status: STATUS[img.status] ?? 'UNKNOWN',
    progress: PROGRESS[img.status] ?? 0, 'OS-EXT-IMG-SIZE:size': img.size ?? null, links: links(ctx, req, img.id),
  };
  if (props.instance_uuid !== undefined) out.server = { id: props.instance_uuid, links: resourceLinks(ctx, req, 'servers', props.instance_uuid) };
  if (props.auto_disk_config !== undefined) out['OS-DCF:diskConfig'] = ['1', 't', 'true', 'on', 'y', 'yes'].includes(String(props.auto_disk_config).toLowerCase()) ? 'AUTO' : 'MANUAL';
  return out;
}

const caller = (req: FastifyRequest) => ({ auth: req.auth!, requestId: req.id });

/** An image the caller may see, as the image service's record (404 "Image not found." otherwise). */
async function find(ctx: Context, req: FastifyRequest, id: string) {
  const rec = isUuid(id) && ctx.services.image ? await ctx.services.image.get(id, req.auth!) : null;
  if (!rec) throw notFound('Image not found.');
  return rec;
}

async function list(ctx: Context, req: FastifyRequest, detail: boolean) {
  proxyVersion(req);
  const q = req.query as Record<string, unknown>;
  const glance: Record<string, string> = {};
  for (const [k, raw] of Object.entries(q)) {
    const v = String(Array.isArray(raw) ? raw[raw.length - 1] : raw);
    if (k === 'name') glance.name = v;
    else if (k === 'status') glance.status = v.toLowerCase();
    else if (k === 'server') glance.instance_uuid = v.split('/').pop()!;
    else if (k === 'type') glance.image_type = v;
    else if (k === 'minRam') glance.min_ram = v;
    else if (k === 'minDisk') glance.min_disk = v;
    else if (k === 'changes-since') {
      if (Number.isNaN(Date.parse(v))) throw badRequest(`Invalid filter field: changes-since.`);
      glance.updated_at = `gte:${new Date(v).toISOString()}`;
    } else if (k.startsWith('property-')) glance[k.slice('property-'.length)] = v;
  }
  const { limit, marker } = limitAndMarker(req);
  if (queryOne(req, 'limit') !== undefined || marker !== undefined) glance.limit = String(limit);
  if (marker !== undefined) glance.marker = marker;
  let images;
  try {
    ({ images } = await imageService(ctx).list(caller(req), glance));
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) throw badRequest(e.message);
    throw e;
  }
  const recs = images.map((i) => imageService(ctx).record(i));
  const out: Record<string, unknown> = {
    images: recs.map((r) => (detail ? detailView(ctx, req, r) : { id: r.id, name: r.name, links: links(ctx, req, r.id) })),
  };
  const next = nextLinks(ctx, req, detail ? 'images/detail' : 'images', recs.length, recs[recs.length - 1]?.id, limit);
  if (next) out.images_links = next;
  return out;
}

/** Nova's check_img_metadata_properties_quota. */
async function checkImageMetadataQuota(ctx: Context, req: FastifyRequest, md: Record<string, unknown>) {
  const limit = (await getQuotaLimits(ctx.db, req.auth!.projectId ?? ''))?.metadata_items ?? -1;
  if (limit >= 0 && Object.keys(md).length > limit) throw forbidden('Image metadata limit exceeded');
}

async function setProperties(ctx: Context, req: FastifyRequest, id: string, md: Record<string, string>, replace: boolean) {
  const rec = await find(ctx, req, id);
  const current = rec.properties;
  const next = replace ? { ...md } : { ...current, ...md };
  await checkImageMetadataQuota(ctx, req, next);
  const changes: Change[] = [];
  for (const [k, v] of Object.entries(md)) changes.push({ op: 'add', path: [k], value: v, draft: 10 });
  if (replace) for (const k of Object.keys(current)) if (!(k in md)) changes.push({ op: 'remove', path: [k], draft: 10 });
  try {
    const img = await imageService(ctx).update(caller(req), rec.id, changes);
    return imageService(ctx).record(img).properties;
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) throw forbidden('You are not allowed to update the image.');
    throw e;
  }
}

export async function imageProxyRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/images', async (req) => list(ctx, req, false));
  app.get('/images/detail', async (req) => list(ctx, req, true));
  app.get<{ Params: { id: string } }>('/images/:id', async (req) => {
    proxyVersion(req);
    return { image: detailView(ctx, req, await find(ctx, req, req.params.id)) };
  });
  app.delete<{ Params: { id: string } }>('/images/:id', async (req, reply) => {
    proxyVersion(req);
    const rec = await find(ctx, req, req.params.id);
    try {
      await imageService(ctx).deleteImage(caller(req), rec.id);
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) throw forbidden('You are not allowed to delete the image.');
      if (e instanceof ApiError && e.status === 404) throw notFound('Image not found.');
      throw e;
    }
    return reply.code(204).send();
  });

  const base = '/images/:id/metadata';
  app.get<{ Params: { id: string } }>(base, async (req) => {
    proxyVersion(req);
    return { metadata: (await find(ctx, req, req.params.id)).properties };
  });
  app.post<{ Params: { id: string } }>(base, async (req) => {
    proxyVersion(req);
    validateBody(metadataSetSchema, req.body);
    return { metadata: await setProperties(ctx, req, req.params.id, (req.body as any).metadata, false) };
  });
  app.put<{ Params: { id: string } }>(base, async (req) => {
    proxyVersion(req);
    validateBody(metadataSetSchema, req.body);
    return { metadata: await setProperties(ctx, req, req.params.id, (req.body as any).metadata, true) };
  });
  app.get<{ Params: { id: string; key: string } }>(`${base}/:key`, async (req) => {
    proxyVersion(req);
    const props = (await find(ctx, req, req.params.id)).properties;
    if (!Object.hasOwn(props, req.params.key)) throw notFound(`Image ${req.params.id} has no property ${req.params.key}`);
    return { meta: { [req.params.key]: props[req.params.key] } };
  });
  app.put<{ Params: { id: string; key: string } }>(`${base}/:key`, async (req) => {
    proxyVersion(req);
    validateBody(metadataItemSchema, req.body);
    const meta = (req.body as any).meta as Record<string, string>;
    if (!Object.hasOwn(meta, req.params.key)) throw badRequest('Request body and URI mismatch');
    await setProperties(ctx, req, req.params.id, meta, false);
    return { meta };
  });
  app.delete<{ Params: { id: string; key: string } }>(`${base}/:key`, async (req, reply) => {
    proxyVersion(req);
    const rec = await find(ctx, req, req.params.id);
    if (!Object.hasOwn(rec.properties, req.params.key)) throw notFound(`Image ${req.params.id} has no property ${req.params.key}`);
    try {
      await imageService(ctx).update(caller(req), rec.id, [{ op: 'remove', path: [req.params.key], draft: 10 }]);
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) throw forbidden('You are not allowed to delete the image metadata.');
      throw e;
    }
    return reply.code(204).send();
  });
}

