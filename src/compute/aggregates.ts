// Nova host aggregates (/os-aggregates): named groups of compute hosts with metadata; the
// "availability_zone" metadata key puts the hosts in that availability zone (otherwise "nova").
// Changing an aggregate's zone rewrites compute_nodes.availability_zone of its hosts, which is
// what the scheduler and os-availability-zone read.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import type { Migration } from '../core/db/migrate.ts';
import { badRequest, conflict, notFound } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import { mv } from './microversion.ts';
import { bodyObject, checkKeys, checkName, isObject, novaTime, show } from './common.ts';

export const aggregateMigrations: Migration[] = [{
  id: 'compute-041-aggregates',
  sql: `
CREATE TABLE aggregates (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0,
  deleted_at TEXT
);
CREATE UNIQUE INDEX aggregates_name_uq ON aggregates (name, deleted);
CREATE TABLE aggregate_hosts (
  aggregate_id INTEGER NOT NULL,
  host TEXT NOT NULL,
  PRIMARY KEY (aggregate_id, host)
);
CREATE TABLE aggregate_metadata (
  aggregate_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (aggregate_id, key)
)`,
}];

const DEFAULT_ZONE = 'nova';
const INTERNAL_ZONE = 'internal';

/** The zone of a compute host: its aggregates' availability_zone, else the driver's, else "nova". */
export async function availabilityZoneOfHost(q: Queryable, host: string, fallback: string | undefined): Promise<string> {
  const rows = await q.all(`SELECT m.value FROM aggregate_hosts h JOIN aggregates a ON a.id = h.aggregate_id AND a.deleted = 0
    JOIN aggregate_metadata m ON m.aggregate_id = a.id AND m.key = 'availability_zone' WHERE h.host = ? ORDER BY m.value`, [host]);
  if (rows.length) return [...new Set(rows.map((r) => r.value))].join(',');
  return fallback || DEFAULT_ZONE;
}

async function refreshHostZones(t: Tx, hosts: string[]) {
  for (const h of hosts) {
    for (const n of await t.all('SELECT id, default_availability_zone FROM compute_nodes WHERE host = ? AND deleted = 0', [h])) {
      const az = await availabilityZoneOfHost(t, h, n.default_availability_zone ?? undefined);
      await t.run('UPDATE compute_nodes SET availability_zone = ? WHERE id = ?', [az, n.id]);
    }
  }
}

interface Aggregate { id: number; uuid: string; name: string; created_at: string; updated_at: string | null; hosts: string[]; metadata: Record<string, string> }

async function load(q: Queryable, id: number): Promise<Aggregate | null> {
  const a = await q.get('SELECT * FROM aggregates WHERE id = ? AND deleted = 0', [id]);
  if (!a) return null;
  const hosts = (await q.all('SELECT host FROM aggregate_hosts WHERE aggregate_id = ? ORDER BY host', [id])).map((r) => r.host);
  const metadata: Record<string, string> = {};
  for (const r of await q.all('SELECT key, value FROM aggregate_metadata WHERE aggregate_id = ? ORDER BY key', [id])) metadata[r.key] = r.value;
  return { id: Number(a.id), uuid: a.uuid, name: a.name, created_at: a.created_at, updated_at: a.updated_at ?? null, hosts, metadata };
}

function view(req: FastifyRequest, a: Aggregate, full = true) {
  const out: Record<string, unknown> = {
    availability_zone: a.metadata.availability_zone ?? null, created_at: novaTime(a.created_at), deleted: false, deleted_at: null,
    id: a.id, name: a.name, updated_at: novaTime(a.updated_at),
  };
  if (full) { out.hosts = a.hosts; out.metadata = a.metadata; }
  if (mv(req).atLeast('2.41')) out.uuid = a.uuid;
  return out;
}

function aggregateId(raw: string): number {
  if (!/^\s*[-+]?\d+\s*$/.test(raw)) throw badRequest('Invalid input received: id must be an integer.');
  return Number(raw);
}

/** Nova's az_name format: printable, no ":", no leading/trailing white space. */
function checkAzName(v: unknown, field: string): string {
  const name = checkName(v, field);
  if (name.includes(':')) throw badRequest(`Invalid input for field/attribute ${field}. Value: ${show(v)}. ${show(v)} does not match printable characters except :.Can not start or end with whitespace.`);
  return name;
}

async function hostsWithInstances(q: Queryable, hosts: string[]): Promise<boolean> {
  if (!hosts.length) return false;
  const r = await q.get(`SELECT COUNT(*) AS n FROM instances WHERE deleted = 0 AND host IN (${hosts.map(() => '?').join(',')})`, hosts);
  return Number(r?.n ?? 0) > 0;
}

/** Nova refuses a zone change that would move running instances or split a host across zones. */
async function checkZoneChange(t: Tx, a: Aggregate, newAz: string | null) {
  const oldAz = a.metadata.availability_zone ?? null;
  if (newAz === oldAz) return;
  if (newAz === INTERNAL_ZONE) throw badRequest(`Invalid input received: Aggregate ${a.id} cannot use the internal availability zone.`);
  if (await hostsWithInstances(t, a.hosts)) {
    throw badRequest(`Cannot update aggregate ${a.id}. Reason: One or more hosts contain instances in this zone.`);
  }
  for (const h of a.hosts) {
    const others = await t.all(`SELECT m.value FROM aggregate_hosts x JOIN aggregates g ON g.id = x.aggregate_id AND g.deleted = 0
      JOIN aggregate_metadata m ON m.aggregate_id = g.id AND m.key = 'availability_zone' WHERE x.host = ? AND g.id <> ?`, [h, a.id]);
    if (newAz && others.some((o) => o.value !== newAz)) {
      throw badRequest(`Cannot update aggregate ${a.id}. Reason: One or more hosts already in availability zone(s) [${others.map((o) => `'${o.value}'`).join(', ')}].`);
    }
  }
}

function metadataBody(v: unknown): Record<string, string | null> {
  if (!isObject(v)) throw badRequest(`Invalid input for field/attribute metadata. Value: ${show(v)}. ${show(v)} is not of type 'object'`);
  const out: Record<string, string | null> = {};
  for (const [k, val] of Object.entries(v)) {
    if (k.length < 1 || k.length > 255) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    if (val !== null && typeof val !== 'string') throw badRequest(`Invalid input for field/attribute ${k}. Value: ${show(val)}. ${show(val)} is not of type 'string', 'null'`);
    if (typeof val === 'string' && val.length > 255) throw badRequest(`Invalid input for field/attribute ${k}. Value: ${show(val)}. ${show(val)} is too long`);
    out[k] = val as string | null;
  }
  return out;
}

export async function aggregateRoutes(app: FastifyInstance, ctx: Context) {
  const get = async (id: number) => {
    const a = await load(ctx.db, id);
    if (!a) throw notFound(`Aggregate ${id} could not be found.`);
    return a;
  };

  app.get('/os-aggregates', async (req) => {
    ctx.policy.authorize('os_compute_api:os-aggregates:index', req.auth!, {});
    const out = [];
    for (const r of await ctx.db.all('SELECT id FROM aggregates WHERE deleted = 0 ORDER BY id')) out.push(view(req, (await load(ctx.db, Number(r.id)))!));
    return { aggregates: out };
  });

  app.post('/os-aggregates', async (req) => {
    ctx.policy.authorize('os_compute_api:os-aggregates:create', req.auth!, {});
    const body = bodyObject(req.body, 'aggregate');
    checkKeys(body, ['name', 'availability_zone'], ['name']);
    const name = checkName(body.name, 'name').trim();
    const az = body.availability_zone === undefined || body.availability_zone === null ? null : checkAzName(body.availability_zone, 'availability_zone').trim();
    if (az === INTERNAL_ZONE) throw badRequest('Aggregate cannot be created in the internal availability zone.');
    const id = await ctx.db.tx(async (t) => {
      await t.lock('compute:aggregates');
      if (await t.get('SELECT 1 AS x FROM aggregates WHERE name = ? AND deleted = 0', [name])) throw conflict(`Aggregate ${name} already exists.`);
      const next = Number((await t.get('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM aggregates'))!.n);
      await t.run('INSERT INTO aggregates (id, uuid, name, created_at, deleted) VALUES (?, ?, ?, ?, 0)', [next, uuid(), name, nowIso()]);
      if (az) await t.run('INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES (?, ?, ?)', [next, 'availability_zone', az]);
      return next;
    });
    return { aggregate: view(req, (await load(ctx.db, id))!, false) };
  });

  app.get<{ Params: { id: string } }>('/os-aggregates/:id', async (req) => {
    ctx.policy.authorize('os_compute_api:os-aggregates:show', req.auth!, {});
    return { aggregate: view(req, await get(aggregateId(req.params.id))) };
  });

  app.put<{ Params: { id: string } }>('/os-aggregates/:id', async (req) => {
    ctx.policy.authorize('os_compute_api:os-aggregates:update', req.auth!, {});
    const body = bodyObject(req.body, 'aggregate');
    checkKeys(body, ['name', 'availability_zone']);
    if (!Object.keys(body).length) throw badRequest(`{} does not have enough properties`);
    const name = 'name' in body ? checkName(body.name, 'name').trim() : undefined;
    const az = !('availability_zone' in body) ? undefined : body.availability_zone === null ? null : checkAzName(body.availability_zone, 'availability_zone').trim();
    const id = aggregateId(req.params.id);
    await ctx.db.tx(async (t) => {
      await t.lock('compute:aggregates');
      const a = await load(t, id);
      if (!a) throw notFound(`Aggregate ${id} could not be found.`);
      if (name !== undefined && name !== a.name) {
        if (await t.get('SELECT 1 AS x FROM aggregates WHERE name = ? AND deleted = 0 AND id <> ?', [name, id])) throw conflict(`Aggregate ${name} already exists.`);
        await t.run('UPDATE aggregates SET name = ? WHERE id = ?', [name, id]);
      }
      if (az !== undefined) {
        await checkZoneChange(t, a, az);
        await t.run("DELETE FROM aggregate_metadata WHERE aggregate_id = ? AND key = 'availability_zone'", [id]);
        if (az) await t.run('INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES (?, ?, ?)', [id, 'availability_zone', az]);
        await refreshHostZones(t, a.hosts);
      }
      await t.run('UPDATE aggregates SET updated_at = ? WHERE id = ?', [nowIso(), id]);
    });
    return { aggregate: view(req, await get(id)) };
  });

  app.delete<{ Params: { id: string } }>('/os-aggregates/:id', async (req, reply) => {
    ctx.policy.authorize('os_compute_api:os-aggregates:delete', req.auth!, {});
    const id = aggregateId(req.params.id);
    await ctx.db.tx(async (t) => {
      await t.lock('compute:aggregates');
      const a = await load(t, id);
      if (!a) throw notFound(`Aggregate ${id} could not be found.`);
      if (a.hosts.length) throw badRequest(`Cannot remove aggregate ${id}. Reason: Host aggregate is not empty.`);
      await t.run('DELETE FROM aggregate_metadata WHERE aggregate_id = ?', [id]);
      await t.run('UPDATE aggregates SET deleted = id, deleted_at = ? WHERE id = ?', [nowIso(), id]);
    });
    return reply.send();
  });

  app.post<{ Params: { id: string } }>('/os-aggregates/:id/action', async (req) => {
    const body = req.body;
    if (!isObject(body) || Object.keys(body).length !== 1) throw badRequest('Malformed request body');
    const action = Object.keys(body)[0];
    const id = aggregateId(req.params.id);
    if (action === 'add_host' || action === 'remove_host') {
      ctx.policy.authorize(`os_compute_api:os-aggregates:${action}`, req.auth!, {});
      const inner = bodyObject(body, action);
      checkKeys(inner, ['host'], ['host']);
      const host = inner.host;
      if (typeof host !== 'string' || host.length < 1 || host.length > 255 || !/^[a-zA-Z0-9-._]*$/.test(host)) {
        throw badRequest(`Invalid input for field/attribute host. Value: ${show(host)}. ${show(host)} does not match '^[a-zA-Z0-9-._]*$'`);
      }
      await ctx.db.tx(async (t) => {
        await t.lock('compute:aggregates');
        const a = await load(t, id);
        if (!a) throw notFound(`Aggregate ${id} could not be found.`);
        if (action === 'add_host') {
          if (!(await t.get(`SELECT 1 AS x FROM compute_services WHERE host = ? AND "binary" = 'nova-compute' AND deleted = 0`, [host]))) {
            throw notFound(`Compute host ${host} could not be found.`);
          }
          if (a.hosts.includes(host)) throw conflict(`Aggregate ${id} already has host ${host}.`);
          const az = a.metadata.availability_zone;
          if (az) {
            const current = await availabilityZoneOfHost(t, host, undefined);
            const inZone = await t.get(`SELECT 1 AS x FROM aggregate_hosts x JOIN aggregates g ON g.id = x.aggregate_id AND g.deleted = 0
              JOIN aggregate_metadata m ON m.aggregate_id = g.id AND m.key = 'availability_zone' WHERE x.host = ?`, [host]);
            if (inZone && current !== az) {
              throw conflict(`Cannot add host to aggregate ${id}. Reason: One or more hosts already in availability zone(s) ['${current}'].`);
            }
            if (!inZone && await hostsWithInstances(t, [host])) {
              throw conflict(`Cannot add host to aggregate ${id}. Reason: Host ${host} has instances in availability zone ${current}.`);
            }
          }
          await t.run('INSERT INTO aggregate_hosts (aggregate_id, host) VALUES (?, ?)', [id, host]);
        } else {
          if (!a.hosts.includes(host)) throw notFound(`Cannot remove host ${host} in aggregate ${id}`);
          if (a.metadata.availability_zone && await hostsWithInstances(t, [host])) {
            throw conflict(`Cannot remove host from aggregate ${id}. Reason: Host ${host} has instances in availability zone ${a.metadata.availability_zone}.`);
          }
          await t.run('DELETE FROM aggregate_hosts WHERE aggregate_id = ? AND host = ?', [id, host]);
        }
        await refreshHostZones(t, [host]);
        await t.run('UPDATE aggregates SET updated_at = ? WHERE id = ?', [nowIso(), id]);
      });
      return { aggregate: view(req, await get(id)) };
    }
    if (action === 'set_metadata') {
      ctx.policy.authorize('os_compute_api:os-aggregates:set_metadata', req.auth!, {});
      const inner = bodyObject(body, 'set_metadata');
      checkKeys(inner, ['metadata'], ['metadata']);
      const md = metadataBody(inner.metadata);
      await ctx.db.tx(async (t) => {
        await t.lock('compute:aggregates');
        const a = await load(t, id);
        if (!a) throw notFound(`Aggregate ${id} could not be found.`);
        if ('availability_zone' in md) {
          const az = md.availability_zone === null ? null : checkAzName(md.availability_zone, 'availability_zone');
          await checkZoneChange(t, a, az);
        }
        for (const [k, v] of Object.entries(md)) {
          if (v === null) await t.run('DELETE FROM aggregate_metadata WHERE aggregate_id = ? AND key = ?', [id, k]);
          else await t.run('INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES (?, ?, ?) ON CONFLICT (aggregate_id, key) DO UPDATE SET value = excluded.value', [id, k, v]);
        }
        if ('availability_zone' in md) await refreshHostZones(t, a.hosts);
        await t.run('UPDATE aggregates SET updated_at = ? WHERE id = ?', [nowIso(), id]);
      });
      return { aggregate: view(req, await get(id)) };
    }
    throw badRequest(`There is no such action: ${action}`);
  });
}
