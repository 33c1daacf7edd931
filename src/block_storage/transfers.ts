// Cinder volume transfers (/os-volume-transfer): the owner of an available volume offers it
// (the volume waits as `awaiting-transfer`) and gets a one-time auth key; whoever holds the key
// accepts it in their own project, which takes the volume and its snapshots, quota checked for
// the receiver. Only a salted HMAC of the key is kept. Nothing touches the backend: the VMDKs
// stay where they are, only ownership changes, so every step is one transaction.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Migration } from '../core/db/migrate.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { isUuid, nowIso, uuid } from '../core/ids.ts';
import { cinderTime } from './db.ts';
import { enforceVolumeQuota } from './quotas.ts';
import { collectionLinks, isAdmin, looseBool, paginationParams, queryOne, resourceLinks } from './common.ts';

export const transferMigrations: Migration[] = [{
  id: 'block-storage-011-transfers',
  sql: [
    `CREATE TABLE cinder_transfers (
      id TEXT PRIMARY KEY,
      volume_id TEXT NOT NULL,
      name TEXT,
      salt TEXT NOT NULL,
      crypt_hash TEXT NOT NULL,
      source_project_id TEXT NOT NULL,
      destination_project_id TEXT,
      accepted INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      deleted INTEGER NOT NULL DEFAULT 0
    )`,
    `CREATE INDEX cinder_transfers_volume ON cinder_transfers (volume_id)`,
  ].join(';\n'),
}];

/** Cinder's transfer rules (cinder/policies/volume_transfer.py); accept is open to any project. */
export const TRANSFER_POLICY: Record<string, string> = {
  'volume:create_transfer': 'rule:project_member_or_admin',
  'volume:accept_transfer': 'rule:project_member_or_admin',
  'volume:delete_transfer': 'rule:project_member_or_admin',
  'volume:get_transfer': 'rule:project_reader_or_admin',
  'volume:get_all_transfers': 'rule:project_reader_or_admin',
};

const transferNotFound = (id: string) => new ApiError(404, `Transfer ${id} could not be found.`);
const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fieldError(field: string, value: unknown, why: string) {
  return badRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${why}`);
}

function bodyOf(body: unknown, key: string, allowedKeys: string[]): Record<string, any> {
  if (!isObj(body) || !(key in body)) throw badRequest(`'${key}' is a required property`);
  for (const k of Object.keys(body)) if (k !== key) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
  const b = body[key];
  if (!isObj(b)) throw fieldError(key, b, `${JSON.stringify(b)} is not of type 'object'`);
  for (const k of Object.keys(b)) if (!allowedKeys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
  return b;
}

const hash = (salt: string, key: string) => createHmac('sha1', salt).update(key).digest('hex');

interface TransferRow {
  id: string; volume_id: string; name: string | null; salt: string; crypt_hash: string; source_project_id: string;
  destination_project_id: string | null; accepted: number; created_at: string; updated_at: string; deleted: number;
}

/** A pending transfer the caller may see: its volume's project's, or any for admins. */
async function visibleTransfer(q: Queryable, req: FastifyRequest, admin: boolean, id: string): Promise<TransferRow> {
  const lock = 'forUpdate' in q ? (q as Tx).forUpdate : '';
  const r = await q.get<TransferRow>(`SELECT * FROM cinder_transfers WHERE id = ? AND deleted = 0${lock}`, [id]);
  if (!r || (!admin && r.source_project_id !== req.auth!.projectId)) throw transferNotFound(id);
  return r;
}

export async function transferRoutes(app: FastifyInstance, ctx: Context) {
  const links = (req: FastifyRequest, id: string) => resourceLinks(ctx, req, 'os-volume-transfer', id);
  const summary = (req: FastifyRequest, r: TransferRow) => ({ id: r.id, volume_id: r.volume_id, name: r.name ?? null, links: links(req, r.id) });
  const detail = (req: FastifyRequest, r: TransferRow) => ({
    id: r.id, created_at: cinderTime(r.created_at), name: r.name ?? null, volume_id: r.volume_id, links: links(req, r.id),
  });

  app.post('/os-volume-transfer', async (req, reply) => {
    const b = bodyOf(req.body, 'transfer', ['volume_id', 'name']);
    if (!('volume_id' in b)) throw badRequest("Invalid input for field/attribute transfer. 'volume_id' is a required property");
    if (typeof b.volume_id !== 'string' || !isUuid(b.volume_id)) throw fieldError('transfer.volume_id', b.volume_id, `${JSON.stringify(b.volume_id)} is not a 'uuid'`);
    let name: string | null = null;
    if (b.name !== undefined && b.name !== null) {
      if (typeof b.name !== 'string') throw fieldError('transfer.name', b.name, `${JSON.stringify(b.name)} is not valid under any of the given schemas`);
      if (b.name.length > 255) throw fieldError('transfer.name', b.name, `'${b.name}' is too long`);
      name = b.name.trim();
    }
    const admin = isAdmin(ctx, req);
    const id = uuid();
    const authKey = randomBytes(8).toString('hex');
    const salt = randomBytes(4).toString('hex');
    const ts = nowIso();
    await ctx.db.tx(async (t) => {
      const v = await t.get(`SELECT id, project_id, user_id, status FROM cinder_volumes WHERE id = ?${t.forUpdate}`, [b.volume_id]);
      if (!v || (!admin && v.project_id !== req.auth!.projectId)) throw new ApiError(404, `Volume ${b.volume_id} could not be found.`);
      ctx.policy.authorize('volume:create_transfer', req.auth!, { project_id: v.project_id, user_id: v.user_id });
      if (v.status !== 'available') throw badRequest('Invalid volume: status must be available');
      for (const s of await t.all('SELECT id, status FROM cinder_snapshots WHERE volume_id = ?', [v.id])) {
        if (s.status !== 'available') throw badRequest(`Invalid snapshot: snapshot: ${s.id} status must be available`);
      }
      await t.run(`INSERT INTO cinder_transfers (id, volume_id, name, salt, crypt_hash, source_project_id, destination_project_id, accepted, created_at, updated_at, deleted)
        VALUES (?, ?, ?, ?, ?, ?, NULL, 0, ?, ?, 0)`, [id, v.id, name, salt, hash(salt, authKey), v.project_id, ts, ts]);
      await t.run("UPDATE cinder_volumes SET status = 'awaiting-transfer', previous_status = status, updated_at = ? WHERE id = ?", [ts, v.id]);
    });
    reply.code(202);
    return { transfer: { id, created_at: cinderTime(ts), name, volume_id: b.volume_id, auth_key: authKey, links: links(req, id) } };
  });

  const list = (isDetail: boolean) => async (req: FastifyRequest) => {
    ctx.policy.authorize('volume:get_all_transfers', req.auth!, { project_id: req.auth!.projectId });
    const admin = isAdmin(ctx, req);
    const page = paginationParams(req);
    const where = ['deleted = 0'];
    const params: string[] = [];
    if (!(admin && looseBool(queryOne(req, 'all_tenants') ?? 'false'))) { where.push('source_project_id = ?'); params.push(req.auth!.projectId ?? ''); }
    for (const [k, col] of [['name', 'name'], ['volume_id', 'volume_id'], ['id', 'id']] as const) {
      const v = queryOne(req, k);
      if (v !== undefined) { where.push(`${col} = ?`); params.push(v); }
    }
    let rows = await ctx.db.all<TransferRow>(`SELECT * FROM cinder_transfers WHERE ${where.join(' AND ')} ORDER BY created_at ASC, id ASC`, params);
    // common.limited: marker, then offset and limit over the sorted list.
    if (page.marker !== undefined) {
      const i = rows.findIndex((r) => r.id === page.marker);
      if (i < 0) throw new ApiError(404, `Marker ${page.marker} could not be found.`);
      rows = rows.slice(i + 1);
    }
    rows = rows.slice(page.offset, page.offset + page.limit);
    const body: Record<string, unknown> = { transfers: rows.map((r) => (isDetail ? detail(req, r) : summary(req, r))) };
    const next = collectionLinks(ctx, req, 'os-volume-transfer', rows, page);
    if (next) body.transfers_links = next;
    return body;
  };
  app.get('/os-volume-transfer', list(false));
  app.get('/os-volume-transfer/detail', list(true));

  app.get<{ Params: { transfer_id: string } }>('/os-volume-transfer/:transfer_id', async (req) => {
    ctx.policy.authorize('volume:get_transfer', req.auth!, { project_id: req.auth!.projectId });
    return { transfer: detail(req, await visibleTransfer(ctx.db, req, isAdmin(ctx, req), req.params.transfer_id)) };
  });

  app.delete<{ Params: { transfer_id: string } }>('/os-volume-transfer/:transfer_id', async (req, reply) => {
    const admin = isAdmin(ctx, req);
    await ctx.db.tx(async (t) => {
      const r = await visibleTransfer(t, req, admin, req.params.transfer_id);
      ctx.policy.authorize('volume:delete_transfer', req.auth!, { project_id: r.source_project_id });
      await t.run('UPDATE cinder_transfers SET deleted = 1, updated_at = ? WHERE id = ?', [nowIso(), r.id]);
      await t.run("UPDATE cinder_volumes SET status = 'available', updated_at = ? WHERE id = ? AND status = 'awaiting-transfer'", [nowIso(), r.volume_id]);
    });
    return reply.code(202).send();
  });

  app.post<{ Params: { transfer_id: string } }>('/os-volume-transfer/:transfer_id/accept', async (req, reply) => {
    const b = bodyOf(req.body, 'accept', ['auth_key']);
    if (!('auth_key' in b)) throw badRequest("Invalid input for field/attribute accept. 'auth_key' is a required property");
    if (typeof b.auth_key !== 'string' && !Number.isInteger(b.auth_key)) throw fieldError('accept.auth_key', b.auth_key, `${JSON.stringify(b.auth_key)} is not of type 'string', 'integer'`);
    ctx.policy.authorize('volume:accept_transfer', req.auth!, { project_id: req.auth!.projectId });
    const auth = req.auth!;
    const project = auth.projectId!;
    const id = req.params.transfer_id;
    let accepted: TransferRow | undefined;
    await ctx.db.tx(async (t) => {
      // Any project holding the key may accept: the transfer is looked up across projects.
      const r = await t.get<TransferRow>(`SELECT * FROM cinder_transfers WHERE id = ? AND deleted = 0${t.forUpdate}`, [id]);
      if (!r) throw transferNotFound(id);
      const given = Buffer.from(hash(r.salt, String(b.auth_key)));
      const want = Buffer.from(r.crypt_hash);
      if (given.length !== want.length || !timingSafeEqual(given, want)) {
        throw badRequest(`Invalid auth key: Attempt to transfer ${id} with invalid auth key.`);
      }
      const v = await t.get(`SELECT id, size, status FROM cinder_volumes WHERE id = ?${t.forUpdate}`, [r.volume_id]);
      if (!v) throw new ApiError(404, `Volume ${r.volume_id} could not be found.`);
      if (v.status !== 'awaiting-transfer') throw badRequest(`Invalid volume: Transfer ${id}: Volume id ${v.id} is not in awaiting-transfer state.`);
      const snaps = await t.all('SELECT id, size FROM cinder_snapshots WHERE volume_id = ?', [v.id]);
      const snapGb = snaps.reduce((n, s) => n + Number(s.size), 0);
      try {
        await enforceVolumeQuota(t, project, { volumes: 1, gigabytes: Number(v.size) });
        if (snaps.length) await enforceVolumeQuota(t, project, { snapshots: snaps.length, gigabytes: Number(v.size) + snapGb });
      } catch (e) {
        if (e instanceof ApiError && e.status === 413) throw new ApiError(413, e.message, { ...e.extra, headers: { 'Retry-After': '0' } });
        throw e;
      }
      const ts = nowIso();
      await t.run("UPDATE cinder_volumes SET project_id = ?, user_id = ?, status = 'available', updated_at = ? WHERE id = ?", [project, auth.userId, ts, v.id]);
      await t.run('UPDATE cinder_snapshots SET project_id = ?, user_id = ?, updated_at = ? WHERE volume_id = ?', [project, auth.userId, ts, v.id]);
      await t.run('UPDATE cinder_transfers SET accepted = 1, deleted = 1, destination_project_id = ?, updated_at = ? WHERE id = ?', [project, ts, id]);
      accepted = r;
    });
    reply.code(202);
    return { transfer: summary(req, accepted!) };
  });
}
