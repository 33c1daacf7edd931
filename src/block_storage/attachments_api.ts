// Cinder's attachments API (microversion 3.27): /attachments create (a reservation, or with a
// connector a reservation and its connection at once), show, list, detail, update with a
// connector, delete. It drives the one attachment state machine of attachments.ts, the same
// one Nova uses in-process and the legacy os-attach/os-detach actions use: reserved →
// attaching (connector given); attaching → attached needs os-complete (3.44), above this API.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { ConnectionInfo } from './api.ts';
import { fromJson } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import { cinderTime } from './db.ts';
import { isAdmin, listRows, looseBool, notFoundError, paginationParams, queryOne, sortParams } from './common.ts';
import { requireVersion } from './microversion.ts';
import { deleteAttachment, invalidVolume, reserveAttachment, updateAttachment } from './attachments.ts';
import { findVolume, getVolume, volumeTarget, type VolumeRow } from './volumes.ts';

export const ATTACHMENT_POLICY: Record<string, string> = {
  'volume:attachment_create': 'rule:project_member_or_admin',
  'volume:attachment_update': 'rule:project_member_or_admin',
  'volume:attachment_delete': 'rule:project_member_or_admin',
};

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const notFound = (id: string) => new ApiError(404, `Volume attachment could not be found with filter: attachment_id = ${id}.`);

interface Row {
  id: string; volume_id: string; instance_id: string | null; project_id: string; status: string; attach_mode: string;
  mountpoint: string | null; host: string | null; connector: string | null; attached_at: string | null; created_at: string; updated_at: string;
}

/** The connection_info Cinder's VMDK driver hands out, with the attachment's id. */
function connectionInfoView(v: VolumeRow, info: ConnectionInfo, attachmentId: string) {
  return {
    driver_volume_type: info.driverVolumeType,
    data: {
      volume: info.path, volume_id: v.id, name: `volume-${v.id}`, datastore: info.datastore, path: info.path, size: info.sizeGb,
      access_mode: v.readonly ? 'ro' : 'rw', encrypted: false,
    },
    attachment_id: attachmentId,
  };
}

const summary = (r: Row) => ({ id: r.id, status: r.status, instance: r.instance_id, volume_id: r.volume_id });

/** The detailed view; connection_info is the volume's current one once a connector was given. */
async function detail(ctx: Context, r: Row) {
  let connection: Record<string, unknown> = {};
  const v = await getVolume(ctx.db, r.volume_id);
  if (r.connector && v?.location) {
    connection = connectionInfoView(v, { driverVolumeType: 'vmdk', volumeId: v.id, datastore: v.location.datastore, path: v.location.path, sizeGb: v.size }, r.id);
  }
  return {
    ...summary(r),
    // Cinder gives '' for times never set; the attach time is set when the connector comes in.
    attached_at: r.status === 'reserved' ? '' : cinderTime(r.attached_at ?? r.updated_at) ?? '',
    detached_at: '',
    // Before a connector (and without 3.54's mode) Cinder's mode is the string 'null'.
    attach_mode: !r.connector && r.status === 'reserved' && r.attach_mode !== 'ro' ? 'null' : r.attach_mode,
    connection_info: connection,
  };
}

async function findAttachment(ctx: Context, req: FastifyRequest, id: string): Promise<Row> {
  const r = isUuid(id) ? await ctx.db.get<Row>('SELECT * FROM cinder_attachments WHERE id = ?', [id]) : undefined;
  if (!r || (r.project_id !== req.auth!.projectId && !isAdmin(ctx, req))) throw notFound(id);
  return r;
}

/** A connector as os-brick sends it; host, instance and mountpoint are what the VMDK backend uses. */
function connectorOf(c: Record<string, any>, instance: string | null) {
  return {
    host: typeof c.host === 'string' ? c.host : '', instance: instance ?? (typeof c.instance === 'string' ? c.instance : ''),
    mountpoint: typeof c.mountpoint === 'string' ? c.mountpoint : '',
  };
}

const SORT_KEYS = ['id', 'volume_id', 'instance_id', 'status', 'attach_status', 'created_at', 'updated_at', 'attached_at', 'attach_mode'];

async function list(ctx: Context, req: FastifyRequest, withDetail: boolean) {
  requireVersion(req, '3.27');
  const page = paginationParams(req);
  const sort = sortParams(req, SORT_KEYS);
  const where: string[] = [];
  const params: string[] = [];
  if (!(isAdmin(ctx, req) && queryOne(req, 'all_tenants') !== undefined && looseBool(queryOne(req, 'all_tenants') || 'true'))) {
    where.push('project_id = ?'); params.push(req.auth!.projectId ?? '');
  }
  const filters: [string, string][] = [['volume_id', 'volume_id'], ['instance_id', 'instance_id'], ['status', 'status'], ['attach_status', 'status']];
  for (const [k, col] of filters) {
    const v = queryOne(req, k);
    if (v !== undefined) { where.push(`${col} = ?`); params.push(v); }
  }
  const rows = await listRows<Row>(ctx.db, {
    from: 'cinder_attachments', where, params, sort, sortColumns: { attach_status: 'status' }, page, markerNotFound: notFound,
  });
  return { attachments: withDetail ? await Promise.all(rows.map((r) => detail(ctx, r))) : rows.map(summary) };
}

export async function attachmentApiRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/attachments', async (req) => list(ctx, req, false));
  app.get('/attachments/detail', async (req) => list(ctx, req, true));
  app.get<{ Params: { id: string } }>('/attachments/:id', async (req) => {
    requireVersion(req, '3.27');
    return { attachment: await detail(ctx, await findAttachment(ctx, req, req.params.id)) };
  });

  app.post('/attachments', async (req) => {
    requireVersion(req, '3.27');
    const body = req.body;
    if (!isObj(body) || !isObj(body.attachment)) throw badRequest("Invalid input for field/attribute attachment. 'attachment' is a required property");
    for (const k of Object.keys(body)) if (k !== 'attachment') throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    const b = body.attachment;
    for (const k of Object.keys(b)) if (!['instance_uuid', 'connector', 'volume_uuid'].includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    if (!('volume_uuid' in b)) throw badRequest("Invalid input for field/attribute attachment. 'volume_uuid' is a required property");
    for (const k of ['volume_uuid', 'instance_uuid']) {
      if (k in b && (typeof b[k] !== 'string' || !isUuid(b[k]))) throw badRequest(`Invalid input for field/attribute ${k}. Value: ${JSON.stringify(b[k])}. ${JSON.stringify(b[k])} is not a 'uuid'`);
    }
    if (b.connector !== undefined && b.connector !== null && !isObj(b.connector)) {
      throw badRequest(`Invalid input for field/attribute connector. Value: ${JSON.stringify(b.connector)}. ${JSON.stringify(b.connector)} is not of type 'object', 'null'`);
    }
    const v = await findVolume(ctx, req, b.volume_uuid);
    ctx.policy.authorize('volume:attachment_create', req.auth!, volumeTarget(v));
    if (v.status.includes('error')) {
      throw invalidVolume(`Volume attachments can not be created if the volume is in an error state. The Volume ${v.id} currently has a status of: ${v.status} `);
    }
    const instance = (b.instance_uuid as string | undefined) ?? null;
    const id = await reserveAttachment(ctx, { volumeId: v.id, instanceId: instance, projectId: isAdmin(ctx, req) ? null : req.auth!.projectId! });
    if (isObj(b.connector) && Object.keys(b.connector).length) {
      try {
        await updateAttachment(ctx, id, connectorOf(b.connector, instance));
      } catch (e) {
        // The reservation does not outlive a connection that could not be made.
        await deleteAttachment(ctx, id);
        throw e;
      }
    }
    return { attachment: await detail(ctx, (await ctx.db.get<Row>('SELECT * FROM cinder_attachments WHERE id = ?', [id]))!) };
  });

  app.put<{ Params: { id: string } }>('/attachments/:id', async (req) => {
    requireVersion(req, '3.27');
    const body = req.body;
    if (!isObj(body) || !isObj(body.attachment)) throw badRequest("Invalid input for field/attribute attachment. 'attachment' is a required property");
    const b = body.attachment;
    for (const k of Object.keys(b)) if (k !== 'connector') throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    if (!isObj(b.connector) || !Object.keys(b.connector).length) {
      throw badRequest(`Invalid input for field/attribute connector. Value: ${JSON.stringify(b.connector ?? null)}. ${JSON.stringify(b.connector ?? null)} is not of type 'object' or has too few properties`);
    }
    const r = await findAttachment(ctx, req, req.params.id);
    ctx.policy.authorize('volume:attachment_update', req.auth!, { project_id: r.project_id });
    const v = await getVolume(ctx.db, r.volume_id);
    if (!v) throw notFoundError('Volume', r.volume_id);
    if (v.status.includes('error')) {
      throw new ApiError(409, `Conflict: Volume attachments can not be updated if the volume is in an error state. The Volume ${v.id} currently has a status of: ${v.status} `);
    }
    // Two connected hosts for one volume that is not multiattach: Cinder refuses duplicate connectors.
    const others = await ctx.db.all('SELECT connector FROM cinder_attachments WHERE volume_id = ? AND id <> ?', [v.id, r.id]);
    if (!v.multiattach && others.some((o) => fromJson(o.connector, null))) throw new ApiError(409, `Conflict: duplicate connectors detected on volume ${v.id}`);
    await updateAttachment(ctx, r.id, connectorOf(b.connector, r.instance_id));
    return { attachment: await detail(ctx, await findAttachment(ctx, req, r.id)) };
  });

  app.delete<{ Params: { id: string } }>('/attachments/:id', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.27');
    const r = await findAttachment(ctx, req, req.params.id);
    ctx.policy.authorize('volume:attachment_delete', req.auth!, { project_id: r.project_id });
    await deleteAttachment(ctx, r.id);
    // The volume's remaining attachments.
    const left = await ctx.db.all<Row>('SELECT * FROM cinder_attachments WHERE volume_id = ? ORDER BY created_at, id', [r.volume_id]);
    reply.code(200);
    return { attachments: left.map(summary) };
  });
}
