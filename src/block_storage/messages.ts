// Cinder's user messages (microversion 3.3, paging and sorting 3.5): when an asynchronous volume
// or snapshot operation fails, a message says so to the resource's project — what was being done
// (the action) and why it failed (the detail), as cinder/message/message_field.py names them.
// Messages expire after Cinder's message_ttl (30 days); expired ones are no longer listed and
// are purged when new messages are written.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Migration } from '../core/db/migrate.ts';
import type { Queryable } from '../core/db/index.ts';
import { isUuid, nowIso, uuid } from '../core/ids.ts';
import { cinderTime } from './db.ts';
import { atLeast, requireVersion } from './microversion.ts';
import {
  collectionLinks, isAdmin, listRows, notFoundError, paginationParams, queryParams, resourceLinks, sortParams, MAX_LIMIT,
} from './common.ts';

export const messageMigrations: Migration[] = [{
  id: 'block-storage-020-messages',
  sql: [
    `CREATE TABLE cinder_messages (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      request_id TEXT,
      resource_type TEXT,
      resource_uuid TEXT,
      event_id TEXT NOT NULL,
      message_level TEXT NOT NULL,
      action_id TEXT NOT NULL,
      detail_id TEXT NOT NULL,
      created_at TEXT NOT NULL,
      expires_at TEXT NOT NULL
    )`,
    'CREATE INDEX cinder_messages_project ON cinder_messages (project_id)',
  ].join(';\n'),
}];

export const MESSAGE_POLICY: Record<string, string> = {
  'message:get_all': 'rule:project_reader_or_admin',
  'message:get': 'rule:project_reader_or_admin',
  'message:delete': 'rule:project_member_or_admin',
};

/** Cinder's message_ttl default: 30 days. */
const MESSAGE_TTL_MS = 2592000 * 1000;

/** message_field.Action: what was being done. */
export const ACTIONS = {
  SCHEDULE_ALLOCATE_VOLUME: ['001', 'schedule allocate volume'],
  COPY_VOLUME_TO_IMAGE: ['003', 'copy volume to image'],
  COPY_IMAGE_TO_VOLUME: ['005', 'copy image to volume'],
  EXTEND_VOLUME: ['007', 'extend volume'],
  CREATE_VOLUME_FROM_BACKEND: ['008', 'create volume from backend storage'],
  SNAPSHOT_CREATE: ['009', 'create snapshot'],
  SNAPSHOT_DELETE: ['010', 'delete snapshot'],
} as const;

/** message_field.Detail: why it failed. */
export const DETAILS = {
  UNKNOWN_ERROR: ['001', 'An unknown error occurred.'],
  NO_BACKEND_AVAILABLE: ['003', 'Could not find any available weighted backend.'],
  FAILED_TO_UPLOAD_VOLUME: ['004', 'Failed to upload volume to image at backend.'],
  DRIVER_FAILED_EXTEND: ['010', 'Volume Driver failed to extend volume.'],
  DRIVER_FAILED_CREATE: ['012', 'Driver failed to create the volume.'],
  SNAPSHOT_CREATE_ERROR: ['013', 'Snapshot failed to create.'],
  SNAPSHOT_DELETE_ERROR: ['016', 'Snapshot failed to delete.'],
} as const;

const ACTION_TEXT = new Map<string, string>(Object.values(ACTIONS).map(([id, text]) => [id, text]));
const DETAIL_TEXT = new Map<string, string>(Object.values(DETAILS).map(([id, text]) => [id, text]));

export interface MessageEvent {
  projectId: string;
  resourceType: 'VOLUME' | 'VOLUME_SNAPSHOT';
  resourceId: string;
  action: readonly [string, string];
  detail: readonly [string, string];
  /** The API request that started the failed operation, when there was one. */
  requestId?: string | null;
}

/** Records an error message for a project (message.api.API.create); expired messages are purged. */
export async function recordMessage(q: Queryable, e: MessageEvent): Promise<void> {
  const now = new Date();
  await q.run('DELETE FROM cinder_messages WHERE expires_at < ?', [now.toISOString()]);
  await q.run(
    `INSERT INTO cinder_messages (id, project_id, request_id, resource_type, resource_uuid, event_id, message_level, action_id, detail_id, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, 'ERROR', ?, ?, ?, ?)`,
    [uuid(), e.projectId, e.requestId ?? null, e.resourceType, e.resourceId, `VOLUME_${e.resourceType}_${e.action[0]}_${e.detail[0]}`,
      e.action[0], e.detail[0], now.toISOString(), new Date(now.getTime() + MESSAGE_TTL_MS).toISOString()]);
}

function messageView(ctx: Context, req: FastifyRequest, r: any) {
  const out: Record<string, unknown> = {
    id: r.id,
    event_id: r.event_id,
    user_message: `${ACTION_TEXT.get(r.action_id) ?? r.action_id}:${DETAIL_TEXT.get(r.detail_id) ?? r.detail_id}`,
    message_level: r.message_level,
    created_at: cinderTime(r.created_at),
    guaranteed_until: cinderTime(r.expires_at),
    request_id: r.request_id,
    links: resourceLinks(ctx, req, 'messages', r.id),
  };
  if (r.resource_type) out.resource_type = r.resource_type;
  if (r.resource_uuid) out.resource_uuid = r.resource_uuid;
  return out;
}

const SORT_KEYS = ['id', 'project_id', 'request_id', 'resource_type', 'resource_uuid', 'event_id', 'message_level', 'created_at', 'expires_at'];
const FILTERS = ['request_id', 'resource_type', 'resource_uuid', 'event_id', 'message_level'];

async function findMessage(ctx: Context, req: FastifyRequest, id: string) {
  const r = isUuid(id) ? await ctx.db.get('SELECT * FROM cinder_messages WHERE id = ? AND expires_at >= ?', [id, nowIso()]) : undefined;
  if (!r || (r.project_id !== req.auth!.projectId && !isAdmin(ctx, req))) throw notFoundError('Message', id);
  return r;
}

export async function messageRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/messages', async (req) => {
    requireVersion(req, '3.3');
    ctx.policy.authorize('message:get_all', req.auth!, { project_id: req.auth!.projectId });
    const where = ['expires_at >= ?'];
    const params: string[] = [nowIso()];
    // Admins see every project's messages, as Cinder's project_only query lets them.
    if (!isAdmin(ctx, req)) { where.push('project_id = ?'); params.push(req.auth!.projectId ?? ''); }
    // Paging, sorting and filters came with 3.5; before it the whole list is answered.
    const paged = atLeast(req, '3.5');
    if (paged) {
      const q = queryParams(req);
      for (const k of FILTERS) if (q[k] !== undefined) { where.push(`${k} = ?`); params.push(q[k]); }
    }
    const page = paged ? paginationParams(req) : { limit: MAX_LIMIT, limitGiven: false, offset: 0 };
    const rows = await listRows<{ id: string } & Record<string, any>>(ctx.db, {
      from: 'cinder_messages', where, params, sort: paged ? sortParams(req, SORT_KEYS) : [{ key: 'created_at', dir: 'desc' }, { key: 'id', dir: 'desc' }],
      page, markerNotFound: (m) => notFoundError('Message', m),
    });
    const out: Record<string, unknown> = { messages: rows.map((r) => messageView(ctx, req, r)) };
    const links = paged ? collectionLinks(ctx, req, 'messages', rows, page) : undefined;
    if (links) out.messages_links = links;
    return out;
  });

  app.get<{ Params: { id: string } }>('/messages/:id', async (req) => {
    requireVersion(req, '3.3');
    const r = await findMessage(ctx, req, req.params.id);
    ctx.policy.authorize('message:get', req.auth!, { project_id: r.project_id });
    return { message: messageView(ctx, req, r) };
  });

  app.delete<{ Params: { id: string } }>('/messages/:id', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.3');
    const r = await findMessage(ctx, req, req.params.id);
    ctx.policy.authorize('message:delete', req.auth!, { project_id: r.project_id });
    await ctx.db.run('DELETE FROM cinder_messages WHERE id = ?', [r.id]);
    return reply.code(204).send();
  });
}
