// Nova's deprecated volume proxies (nova/api/openstack/compute/volumes.py VolumeController and
// SnapshotController): /os-volumes and /os-snapshots in Nova's camelCase views, through
// ctx.services.volume. Like every proxy API they answer 404 from microversion 2.36 on.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import { badRequest, notFound } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import type { SnapshotInfo, VolumeApi, VolumeInfo } from '../block_storage/api.ts';
import type { ComputePart } from './index.ts';
import { mv } from './microversion.ts';
import { isAdmin, parseBoolean, queryOne } from './common.ts';
import { validateBody, type Schema } from './servers/validate.ts';
import * as S from './servers/schemas.ts';

const gone = () => notFound('The resource could not be found.');

/** The proxy exists below 2.36 only, and only with a volume service that offers the call. */
function proxy(req: FastifyRequest, ctx: Context): VolumeApi {
  if (mv(req).atLeast('2.36')) throw gone();
  const api = ctx.services.volume;
  if (!api) throw gone();
  return api;
}

function need<T>(fn: T | undefined): T {
  if (!fn) throw gone();
  return fn;
}

function volumeView(v: VolumeInfo) {
  const attached = v.attachments.filter((a) => a.attachedAt !== null || v.status === 'in-use');
  return {
    id: v.id, status: v.status, size: v.sizeGb, availabilityZone: v.availabilityZone, createdAt: v.createdAt ?? null,
    attachments: attached.length
      ? attached.map((a) => ({ id: v.id, volumeId: v.id, serverId: a.instanceId, device: a.device }))
      : [{}],
    displayName: v.name, displayDescription: v.description ?? null, volumeType: v.volumeType,
    snapshotId: v.snapshotId ?? null, metadata: v.metadata ?? {},
  };
}

function snapshotView(s: SnapshotInfo) {
  return { id: s.id, volumeId: s.volumeId, status: s.status, size: s.sizeGb, createdAt: s.createdAt, displayName: s.name, displayDescription: s.description };
}

/** common.limited: offset and limit query parameters over a whole list. */
function limited<T>(req: FastifyRequest, items: T[]): T[] {
  const num = (k: string) => {
    const raw = queryOne(req, k);
    if (raw === undefined) return undefined;
    if (!/^[0-9]+$/.test(raw)) throw badRequest(`${k} param must be an integer`);
    return Number(raw);
  };
  const offset = num('offset') ?? 0;
  const limit = Math.min(1000, num('limit') ?? 1000);
  return items.slice(offset, offset + limit);
}

const volumeCreateSchema: Schema = {
  type: 'object',
  properties: {
    volume: {
      type: 'object',
      properties: {
        volume_type: { type: 'string' }, metadata: S.metadata, snapshot_id: { type: 'string' },
        size: { type: ['integer', 'string'], pattern: '^[0-9]+$', minimum: 1 },
        availability_zone: { type: 'string' }, display_name: { type: 'string' }, display_description: { type: 'string' },
      },
      required: ['size'],
      additionalProperties: false,
    },
  },
  required: ['volume'],
  additionalProperties: false,
};

const snapshotCreateSchema: Schema = {
  type: 'object',
  properties: {
    snapshot: {
      type: 'object',
      properties: {
        volume_id: { type: 'string' }, force: S.boolean, display_name: { type: 'string' }, display_description: { type: 'string' },
      },
      required: ['volume_id'],
      additionalProperties: false,
    },
  },
  required: ['snapshot'],
  additionalProperties: false,
};

const scope = (ctx: Context, req: FastifyRequest) => ({ project_id: req.auth!.projectId });

async function visibleVolume(ctx: Context, req: FastifyRequest, api: VolumeApi, id: string): Promise<VolumeInfo> {
  const v = isUuid(id) ? await api.get(id) : null;
  if (!v || (v.projectId !== req.auth!.projectId && !isAdmin(ctx, req))) throw notFound(`Volume ${id} could not be found.`);
  return v;
}

async function visibleSnapshot(ctx: Context, req: FastifyRequest, api: VolumeApi, id: string): Promise<SnapshotInfo> {
  const s = isUuid(id) ? await need(api.getSnapshot).call(api, id) : null;
  if (!s || (s.projectId !== req.auth!.projectId && !isAdmin(ctx, req))) throw notFound(`Snapshot ${id} could not be found.`);
  return s;
}

/**
 * "/os-volumes/" is a show with an empty id, which Nova's router does not match (404), while ours
 * (ignoreTrailingSlash) would bring it to the list; usage.ts does the same for its own.
 */
function refuseEmptyId(req: FastifyRequest) {
  if (req.url.split('?')[0].endsWith('/')) throw gone();
}

async function routes(app: FastifyInstance, ctx: Context) {
  const listVolumes = async (req: FastifyRequest, rule: string) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize(rule, req.auth!, scope(ctx, req));
    const all = await need(api.list).call(api, req.auth!.projectId ?? '');
    return { volumes: limited(req, all).map(volumeView) };
  };
  app.get('/os-volumes', async (req) => { refuseEmptyId(req); return listVolumes(req, 'os_compute_api:os-volumes:list'); });
  app.get('/os-volumes/detail', (req) => listVolumes(req, 'os_compute_api:os-volumes:detail'));
  app.get<{ Params: { id: string } }>('/os-volumes/:id', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-volumes:show', req.auth!, scope(ctx, req));
    return { volume: volumeView(await visibleVolume(ctx, req, api, req.params.id)) };
  });
  app.post('/os-volumes', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-volumes:create', req.auth!, scope(ctx, req));
    validateBody(volumeCreateSchema, req.body);
    const v = (req.body as any).volume;
    const snapshotId = v.snapshot_id ?? null;
    if (snapshotId) await visibleSnapshot(ctx, req, api, snapshotId);
    const id = await api.create({
      projectId: req.auth!.projectId ?? '', userId: req.auth!.userId, sizeGb: Number(v.size), name: v.display_name ?? null,
      description: v.display_description ?? null, snapshotId, volumeType: v.volume_type ?? null,
      availabilityZone: v.availability_zone ?? null, metadata: v.metadata ?? {},
    });
    const created = await api.get(id);
    if (!created) throw notFound(`Volume ${id} could not be found.`);
    return { volume: volumeView(created) };
  });
  app.delete<{ Params: { id: string } }>('/os-volumes/:id', async (req, reply: FastifyReply) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-volumes:delete', req.auth!, scope(ctx, req));
    const v = await visibleVolume(ctx, req, api, req.params.id);
    await api.delete(v.id);
    return reply.code(202).send();
  });

  const listSnapshots = async (req: FastifyRequest, rule: string) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize(rule, req.auth!, scope(ctx, req));
    const all = await need(api.listSnapshots).call(api, req.auth!.projectId ?? '');
    return { snapshots: limited(req, all).map(snapshotView) };
  };
  app.get('/os-snapshots', async (req) => { refuseEmptyId(req); return listSnapshots(req, 'os_compute_api:os-volumes:snapshots:list'); });
  app.get('/os-snapshots/detail', (req) => listSnapshots(req, 'os_compute_api:os-volumes:snapshots:detail'));
  app.get<{ Params: { id: string } }>('/os-snapshots/:id', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-volumes:snapshots:show', req.auth!, scope(ctx, req));
    return { snapshot: snapshotView(await visibleSnapshot(ctx, req, api, req.params.id)) };
  });
  app.post('/os-snapshots', async (req) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-volumes:snapshots:create', req.auth!, scope(ctx, req));
    validateBody(snapshotCreateSchema, req.body);
    const b = (req.body as any).snapshot;
    const vol = await visibleVolume(ctx, req, api, b.volume_id);
    const id = await need(api.createSnapshot).call(api, {
      projectId: vol.projectId, userId: req.auth!.userId, volumeId: vol.id, name: b.display_name ?? null,
      description: b.display_description ?? null, force: b.force !== undefined ? parseBoolean(b.force, 'force') : false,
    });
    return { snapshot: snapshotView(await visibleSnapshot(ctx, req, api, id)) };
  });
  app.delete<{ Params: { id: string } }>('/os-snapshots/:id', async (req, reply: FastifyReply) => {
    const api = proxy(req, ctx);
    ctx.policy.authorize('os_compute_api:os-volumes:snapshots:delete', req.auth!, scope(ctx, req));
    const s = await visibleSnapshot(ctx, req, api, req.params.id);
    await need(api.deleteSnapshot).call(api, s.id);
    return reply.code(202).send();
  });
}

export const volumeProxies: ComputePart = { migrations: [], routes };
