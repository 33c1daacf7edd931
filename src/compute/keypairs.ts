// Nova key pairs (/os-keypairs): per-user SSH or x509 public keys. Create generates a key pair
// (returning the private key once) or imports a public key; type at 2.2, admin's user_id at 2.10,
// paging at 2.35. Quota key_pairs is per user.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ComputePart } from './index.ts';
import type { Context } from '../core/service.ts';
import type { Queryable } from '../core/db/index.ts';
import { isUniqueViolation } from '../core/db/index.ts';
import { badRequest, conflict, notFound } from '../core/errors.ts';
import { nowIso } from '../core/ids.ts';
import { mv } from './microversion.ts';
import { bodyObject, checkKeys, checkName, checkQueryKeys, limitAndMarker, nextLinks, queryAll, show, novaTime } from './common.ts';
import { enforceCountQuota } from './quotas.ts';
import { generateSshKeyPair, generateX509KeyPair, sshFingerprint, x509Fingerprint } from './keycrypto.ts';

export interface Keypair { name: string; publicKey: string; fingerprint: string; type: 'ssh' | 'x509' }

const migrations = [{
  id: 'compute-020-key-pairs',
  sql: `
CREATE TABLE key_pairs (
  id INTEGER PRIMARY KEY,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  public_key TEXT NOT NULL,
  type TEXT NOT NULL DEFAULT 'ssh',
  created_at TEXT NOT NULL,
  updated_at TEXT
);
CREATE UNIQUE INDEX key_pairs_user_name_uq ON key_pairs (user_id, name)`,
}];

/** A user's key pair by name (what server create's key_name refers to). */
export async function getKeypair(q: Queryable, userId: string, name: string): Promise<Keypair | null> {
  const r = await q.get('SELECT name, public_key, fingerprint, type FROM key_pairs WHERE user_id = ? AND name = ?', [userId, name]);
  return r ? { name: r.name, publicKey: r.public_key, fingerprint: r.fingerprint, type: r.type } : null;
}

/** Key pair names: Nova's name format plus a character set ('@' and '.' allowed from 2.92). */
function checkKeypairName(v: unknown, v292: boolean): string {
  const name = checkName(v, 'name');
  const pattern = v292 ? /^[_\-@. a-zA-Z0-9]+$/ : /^[_\- a-zA-Z0-9]+$/;
  if (!pattern.test(name)) {
    throw badRequest(`Invalid input for field/attribute name. Value: ${show(v)}. ${show(v)} does not match '${pattern.source}'`);
  }
  return name.trim();
}

/** user_id from the query at 2.10+ (first value), else the caller. */
function targetUser(req: FastifyRequest): string {
  if (mv(req).atLeast('2.10')) {
    const u = queryAll(req, 'user_id')[0];
    if (u !== undefined) return u;
  }
  return req.auth!.userId;
}

function view(r: any, fields: string[]) {
  const all: Record<string, unknown> = {
    name: r.name, public_key: r.public_key, fingerprint: r.fingerprint, user_id: r.user_id, type: r.type,
    created_at: novaTime(r.created_at), deleted: false, deleted_at: null, id: Number(r.id), updated_at: novaTime(r.updated_at),
  };
  return Object.fromEntries(fields.map((f) => [f, all[f]]));
}

async function routes(app: FastifyInstance, ctx: Context) {
  app.post('/os-keypairs', async (req, reply) => {
    const v = mv(req);
    const body = bodyObject(req.body, 'keypair');
    const allowedKeys = ['name', 'public_key'];
    if (v.atLeast('2.2')) allowedKeys.push('type');
    if (v.atLeast('2.10')) allowedKeys.push('user_id');
    // 2.92 stopped generating key pairs: public_key is required from then on.
    checkKeys(body, allowedKeys, v.atLeast('2.92') ? ['name', 'public_key'] : ['name']);
    const name = checkKeypairName(body.name, v.atLeast('2.92'));
    let type: 'ssh' | 'x509' = 'ssh';
    if ('type' in body) {
      if (body.type !== 'ssh' && body.type !== 'x509') throw badRequest(`Invalid input for field/attribute type. Value: ${show(body.type)}. ${show(body.type)} is not one of ['ssh', 'x509']`);
      type = body.type;
    }
    if ('public_key' in body && typeof body.public_key !== 'string') {
      throw badRequest(`Invalid input for field/attribute public_key. Value: ${show(body.public_key)}. ${show(body.public_key)} is not of type 'string'`);
    }
    if ('user_id' in body && typeof body.user_id !== 'string') {
      throw badRequest(`Invalid input for field/attribute user_id. Value: ${show(body.user_id)}. ${show(body.user_id)} is not of type 'string'`);
    }
    const userId: string = (v.atLeast('2.10') && body.user_id) || req.auth!.userId;
    ctx.policy.authorize('os_compute_api:os-keypairs:create', req.auth!, { user_id: userId });

    let publicKey: string, fingerprint: string, privateKey: string | undefined;
    try {
      if ('public_key' in body) {
        publicKey = body.public_key;
        fingerprint = type === 'ssh' ? sshFingerprint(publicKey) : x509Fingerprint(publicKey);
      } else {
        const g = type === 'ssh' ? await generateSshKeyPair() : await generateX509KeyPair(userId);
        ({ publicKey, fingerprint, privateKey } = g);
      }
    } catch (e) {
      throw badRequest(`Keypair data is invalid: ${(e as Error).message}`);
    }

    const row = await ctx.db.tx(async (t) => {
      // One lock per user serialises the quota count and the name check; ids come from a global lock.
      await t.lock(`quota:key_pairs:${userId}`);
      const used = Number((await t.get('SELECT COUNT(*) AS n FROM key_pairs WHERE user_id = ?', [userId]))?.n ?? 0);
      await enforceCountQuota(t, req.auth!.projectId ?? '', userId, 'key_pairs', used, 'Quota exceeded, too many key pairs.');
      if (await t.get('SELECT 1 AS x FROM key_pairs WHERE user_id = ? AND name = ?', [userId, name])) {
        throw conflict(`Key pair '${name}' already exists.`);
      }
      await t.lock('compute:key_pairs:id');
      const id = Number((await t.get('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM key_pairs'))!.n);
      try {
        await t.run('INSERT INTO key_pairs (id, user_id, name, fingerprint, public_key, type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
          [id, userId, name, fingerprint, publicKey, type, nowIso()]);
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict(`Key pair '${name}' already exists.`);
        throw e;
      }
      return t.get('SELECT * FROM key_pairs WHERE id = ?', [id]);
    });
    const fields = [...(privateKey ? ['private_key'] : []), ...(v.atLeast('2.2') ? ['type'] : []), 'name', 'public_key', 'fingerprint', 'user_id'];
    const out = view(row, fields.filter((f) => f !== 'private_key'));
    const keypair = privateKey ? { private_key: privateKey, ...out } : out;
    reply.code(v.atLeast('2.2') ? 201 : 200);
    return { keypair };
  });

  app.get('/os-keypairs', async (req) => {
    const v = mv(req);
    if (v.atLeast('2.75')) checkQueryKeys(req, ['user_id', 'limit', 'marker']);
    const userId = targetUser(req);
    ctx.policy.authorize('os_compute_api:os-keypairs:index', req.auth!, { user_id: userId });
    const fields = v.atLeast('2.2') ? ['name', 'public_key', 'fingerprint', 'type'] : ['name', 'public_key', 'fingerprint'];
    if (v.below('2.35')) {
      const rows = await ctx.db.all('SELECT * FROM key_pairs WHERE user_id = ? ORDER BY name', [userId]);
      return { keypairs: rows.map((r) => ({ keypair: view(r, fields) })) };
    }
    const { limit, marker } = limitAndMarker(req);
    const params: any[] = [userId];
    let where = 'user_id = ?';
    if (marker !== undefined) {
      if (!(await ctx.db.get('SELECT 1 AS x FROM key_pairs WHERE user_id = ? AND name = ?', [userId, marker]))) {
        throw badRequest(`Marker ${marker} could not be found.`);
      }
      where += ' AND name > ?';
      params.push(marker);
    }
    params.push(limit);
    const rows = await ctx.db.all(`SELECT * FROM key_pairs WHERE ${where} ORDER BY name LIMIT ?`, params);
    const out: Record<string, unknown> = { keypairs: rows.map((r) => ({ keypair: view(r, fields) })) };
    const links = nextLinks(ctx, req, 'os-keypairs', rows.length, rows.at(-1)?.name, limit);
    if (links) out.keypairs_links = links;
    return out;
  });

  app.get<{ Params: { name: string } }>('/os-keypairs/:name', async (req) => {
    const v = mv(req);
    if (v.atLeast('2.75')) checkQueryKeys(req, ['user_id']);
    const userId = targetUser(req);
    ctx.policy.authorize('os_compute_api:os-keypairs:show', req.auth!, { user_id: userId });
    const r = await ctx.db.get('SELECT * FROM key_pairs WHERE user_id = ? AND name = ?', [userId, req.params.name]);
    if (!r) throw notFound(`Keypair ${req.params.name} not found for user ${userId}`);
    const fields = ['name', 'public_key', 'fingerprint', 'user_id', 'created_at', 'deleted', 'deleted_at', 'id', 'updated_at'];
    if (v.atLeast('2.2')) fields.push('type');
    return { keypair: view(r, fields) };
  });

  app.delete<{ Params: { name: string } }>('/os-keypairs/:name', async (req, reply) => {
    const v = mv(req);
    if (v.atLeast('2.75')) checkQueryKeys(req, ['user_id']);
    const userId = targetUser(req);
    ctx.policy.authorize('os_compute_api:os-keypairs:delete', req.auth!, { user_id: userId });
    const r = await ctx.db.run('DELETE FROM key_pairs WHERE user_id = ? AND name = ?', [userId, req.params.name]);
    if (!r.changes) throw notFound(`Keypair ${req.params.name} not found for user ${userId}`);
    return reply.code(v.atLeast('2.2') ? 204 : 202).send();
  });
}

export const keypairs: ComputePart = { migrations, routes };
