// Cinder's QoS specs (admin): named sets of key/value limits with a consumer (back-end, front-end
// or both), and their associations with volume types (a type has at most one). The specs are
// Cinder's records; front-end ones are for the compute side to apply, back-end ones for the
// driver (the VMDK driver applies none), exactly as Cinder keeps them whatever the backend.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable } from '../core/db/index.ts';
import { fromJson, isUniqueViolation, toJson } from '../core/db/index.ts';
import { ApiError, badRequest, conflict } from '../core/errors.ts';
import { nowIso, uuid } from '../core/ids.ts';
import { parseBool, queryOne, urlProject } from './common.ts';

const CONSUMERS = ['front-end', 'back-end', 'both'];
const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface QosRow { id: string; name: string; consumer: string; specs: Record<string, string> }

async function getQos(q: Queryable, id: string): Promise<QosRow> {
  const r = await q.get('SELECT * FROM cinder_qos_specs WHERE id = ?', [id]);
  if (!r) throw new ApiError(404, `QoS Specs ${id} could not be found.`);
  return { id: r.id, name: r.name, consumer: r.consumer, specs: fromJson(r.specs, {}) };
}

const view = (s: QosRow) => ({ id: s.id, name: s.name, consumer: s.consumer, specs: s.specs });

function specValues(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (!k || k.length > 255) throw badRequest(`Invalid input received: QoS spec key ${k} must be 1 to 255 characters.`);
    if (typeof v !== 'string' && typeof v !== 'number') throw badRequest(`Invalid input received: QoS spec value of ${k} must be a string.`);
    if (String(v).length > 255) throw badRequest(`Invalid input received: QoS spec value of ${k} must be at most 255 characters.`);
    out[k] = String(v);
  }
  return out;
}

async function typeOf(q: Queryable, typeId: string | undefined) {
  if (!typeId) throw badRequest('Volume Type id must not be None.');
  const t = await q.get('SELECT id, name FROM cinder_volume_types WHERE id = ? AND deleted = 0', [typeId]);
  if (!t) throw new ApiError(404, `Volume type ${typeId} could not be found.`);
  return t as { id: string; name: string };
}

export async function qosRoutes(app: FastifyInstance, ctx: Context) {
  const can = (req: FastifyRequest, action: string) => ctx.policy.authorize(`volume_extension:qos_specs_manage:${action}`, req.auth!, {});
  const links = (req: FastifyRequest, id: string) => [
    { href: `${ctx.config.publicUrl}/volume/v3/${urlProject(req)}/qos-specs/${id}`, rel: 'self' },
    { href: `${ctx.config.publicUrl}/volume/${urlProject(req)}/qos-specs/${id}`, rel: 'bookmark' },
  ];

  app.post('/qos-specs', async (req) => {
    can(req, 'create');
    const b = (req.body as Record<string, unknown> | null)?.qos_specs;
    if (!isObj(b)) throw badRequest("Missing required element 'qos_specs' in request body.");
    const { name, consumer = 'back-end', ...rest } = b;
    if (typeof name !== 'string' || !name.trim() || name.length > 255) throw badRequest('Invalid input received: QoS specs name must be a non-empty string of at most 255 characters.');
    if (typeof consumer !== 'string' || !CONSUMERS.includes(consumer)) throw badRequest(`Invalid input received: Valid consumer of QoS specs are: ${CONSUMERS.join(', ')}`);
    const specs = specValues(rest);
    const row: QosRow = { id: uuid(), name: name.trim(), consumer, specs };
    try {
      await ctx.db.run('INSERT INTO cinder_qos_specs (id, name, consumer, specs, created_at) VALUES (?, ?, ?, ?, ?)', [row.id, row.name, consumer, toJson(specs), nowIso()]);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`QoS Specs ${row.name} already exists.`);
      throw e;
    }
    return { qos_specs: view(row), links: links(req, row.id) };
  });

  app.get('/qos-specs', async (req) => {
    can(req, 'get_all');
    const rows = await ctx.db.all('SELECT * FROM cinder_qos_specs ORDER BY created_at, id');
    return { qos_specs: rows.map((r) => view({ id: r.id, name: r.name, consumer: r.consumer, specs: fromJson(r.specs, {}) })) };
  });

  app.get<{ Params: { id: string } }>('/qos-specs/:id', async (req) => {
    can(req, 'get');
    const s = await getQos(ctx.db, req.params.id);
    return { qos_specs: view(s), links: links(req, s.id) };
  });

  app.put<{ Params: { id: string } }>('/qos-specs/:id', async (req) => {
    can(req, 'update');
    const b = (req.body as Record<string, unknown> | null)?.qos_specs;
    if (!isObj(b) || !Object.keys(b).length) throw badRequest("Missing required element 'qos_specs' in request body.");
    if ('consumer' in b && (typeof b.consumer !== 'string' || !CONSUMERS.includes(b.consumer))) {
      throw badRequest(`Invalid input received: Valid consumer of QoS specs are: ${CONSUMERS.join(', ')}`);
    }
    const { consumer, ...rest } = b;
    const set = specValues(rest);
    await ctx.db.tx(async (t) => {
      const s = await getQos(t, req.params.id);
      await t.run('UPDATE cinder_qos_specs SET specs = ?, consumer = ? WHERE id = ?', [toJson({ ...s.specs, ...set }), (consumer as string) ?? s.consumer, s.id]);
    });
    return { qos_specs: { ...set, ...(consumer !== undefined ? { consumer: String(consumer) } : {}) } };
  });

  app.put<{ Params: { id: string } }>('/qos-specs/:id/delete_keys', async (req, reply: FastifyReply) => {
    can(req, 'delete');
    const keys = (req.body as Record<string, unknown> | null)?.keys;
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw badRequest("Missing required element 'keys' in request body.");
    await ctx.db.tx(async (t) => {
      const s = await getQos(t, req.params.id);
      for (const k of keys) if (!(k in s.specs)) throw new ApiError(404, `QoS spec ${k} cannot be found in QoS Specs ${s.id}.`);
      const next = { ...s.specs };
      for (const k of keys) delete next[k];
      await t.run('UPDATE cinder_qos_specs SET specs = ? WHERE id = ?', [toJson(next), s.id]);
    });
    reply.code(202);
    return reply.send();
  });

  app.delete<{ Params: { id: string } }>('/qos-specs/:id', async (req, reply: FastifyReply) => {
    can(req, 'delete');
    const raw = queryOne(req, 'force');
    const force = raw === undefined ? false : parseBool(raw, 'force');
    await ctx.db.tx(async (t) => {
      const s = await getQos(t, req.params.id);
      const used = await t.get('SELECT COUNT(*) AS n FROM cinder_qos_associations WHERE qos_id = ?', [s.id]);
      if (Number(used?.n ?? 0) && !force) throw badRequest(`QoS Specs ${s.id} is still associated with entities.`);
      await t.run('DELETE FROM cinder_qos_associations WHERE qos_id = ?', [s.id]);
      await t.run('DELETE FROM cinder_qos_specs WHERE id = ?', [s.id]);
    });
    reply.code(202);
    return reply.send();
  });

  app.get<{ Params: { id: string } }>('/qos-specs/:id/associations', async (req) => {
    can(req, 'get');
    const s = await getQos(ctx.db, req.params.id);
    const rows = await ctx.db.all(`SELECT vt.id, vt.name FROM cinder_qos_associations a JOIN cinder_volume_types vt ON vt.id = a.type_id
      WHERE a.qos_id = ? AND vt.deleted = 0 ORDER BY vt.name`, [s.id]);
    return { qos_associations: rows.map((r) => ({ association_type: 'volume_type', id: r.id, name: r.name })) };
  });

  app.get<{ Params: { id: string } }>('/qos-specs/:id/associate', async (req, reply: FastifyReply) => {
    can(req, 'update');
    await ctx.db.tx(async (t) => {
      const s = await getQos(t, req.params.id);
      const type = await typeOf(t, queryOne(req, 'vol_type_id'));
      const cur = await t.get('SELECT qos_id FROM cinder_qos_associations WHERE type_id = ?', [type.id]);
      if (cur && cur.qos_id !== s.id) throw badRequest(`Type ${type.id} is already associated with another qos specs: ${cur.qos_id}`);
      if (!cur) await t.run('INSERT INTO cinder_qos_associations (qos_id, type_id) VALUES (?, ?)', [s.id, type.id]);
    });
    reply.code(202);
    return reply.send();
  });

  app.get<{ Params: { id: string } }>('/qos-specs/:id/disassociate', async (req, reply: FastifyReply) => {
    can(req, 'update');
    await ctx.db.tx(async (t) => {
      const s = await getQos(t, req.params.id);
      const type = await typeOf(t, queryOne(req, 'vol_type_id'));
      await t.run('DELETE FROM cinder_qos_associations WHERE qos_id = ? AND type_id = ?', [s.id, type.id]);
    });
    reply.code(202);
    return reply.send();
  });

  app.get<{ Params: { id: string } }>('/qos-specs/:id/disassociate_all', async (req, reply: FastifyReply) => {
    can(req, 'update');
    await ctx.db.tx(async (t) => {
      const s = await getQos(t, req.params.id);
      await t.run('DELETE FROM cinder_qos_associations WHERE qos_id = ?', [s.id]);
    });
    reply.code(202);
    return reply.send();
  });
}
