// Nova migration records (resize, cold/live migration, evacuation) and GET /os-migrations. The
// servers code writes the rows with recordMigration/setMigrationStatus in the transactions that
// change the instance; this file owns the table and the admin listing (2.23 migration_type and
// links, 2.59 uuid + paging + changes-since, 2.66 changes-before).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import type { Migration as SchemaMigration } from '../core/db/migrate.ts';
import { badRequest } from '../core/errors.ts';
import { uuid as newUuid, nowIso } from '../core/ids.ts';
import { mv } from './microversion.ts';
import { allowed, limitAndMarker, nextLinks, novaTime, queryAll, resourceLinks } from './common.ts';

export const migrationMigrations: SchemaMigration[] = [{
  id: 'compute-050-migrations',
  sql: `
CREATE TABLE migrations (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL,
  instance_uuid TEXT NOT NULL,
  source_compute TEXT,
  dest_compute TEXT,
  source_node TEXT,
  dest_node TEXT,
  dest_host TEXT,
  old_instance_type_id INTEGER,
  new_instance_type_id INTEGER,
  status TEXT NOT NULL,
  migration_type TEXT NOT NULL,
  hidden INTEGER NOT NULL DEFAULT 0,
  project_id TEXT,
  user_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX migrations_uuid_uq ON migrations (uuid);
CREATE INDEX migrations_instance ON migrations (instance_uuid)`,
}];

export interface NewMigration {
  instanceUuid: string;
  migrationType: 'resize' | 'migration' | 'live-migration' | 'evacuation';
  status: string; // Nova's: 'pre-migrating', 'migrating', 'finished', 'confirmed', 'reverted', 'error', 'done' ...
  sourceCompute?: string | null;
  destCompute?: string | null;
  sourceNode?: string | null;
  destNode?: string | null;
  destHost?: string | null;
  /** Internal flavor ids (Flavor.internalId). */
  oldInstanceTypeId?: number | null;
  newInstanceTypeId?: number | null;
  projectId?: string | null;
  userId?: string | null;
}

/** Records a migration in the caller's transaction; returns its uuid and integer id. */
export async function recordMigration(t: Tx, m: NewMigration): Promise<{ id: number; uuid: string }> {
  await t.lock('compute:migrations:id');
  const id = Number((await t.get('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM migrations'))!.n);
  const u = newUuid();
  const now = nowIso();
  await t.run(`INSERT INTO migrations (id, uuid, instance_uuid, source_compute, dest_compute, source_node, dest_node, dest_host,
    old_instance_type_id, new_instance_type_id, status, migration_type, hidden, project_id, user_id, created_at, updated_at, deleted)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 0)`, [
    id, u, m.instanceUuid, m.sourceCompute ?? null, m.destCompute ?? null, m.sourceNode ?? null, m.destNode ?? null, m.destHost ?? null,
    m.oldInstanceTypeId ?? null, m.newInstanceTypeId ?? null, m.status, m.migrationType, m.projectId ?? null, m.userId ?? null, now, now]);
  return { id, uuid: u };
}

export async function setMigrationStatus(q: Queryable, migrationUuid: string, status: string): Promise<void> {
  await q.run('UPDATE migrations SET status = ?, updated_at = ? WHERE uuid = ?', [status, nowIso(), migrationUuid]);
}

/** The newest migration of an instance (e.g. the resize waiting for confirmation). */
export async function latestMigration(q: Queryable, instanceUuid: string): Promise<any | null> {
  return (await q.get('SELECT * FROM migrations WHERE instance_uuid = ? AND deleted = 0 ORDER BY created_at DESC, id DESC LIMIT 1', [instanceUuid])) ?? null;
}

const LIVE_IN_PROGRESS = ['queued', 'preparing', 'running', 'post-migrating'];

function parseIso(name: string, s: string): string {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw badRequest(`Invalid input for query parameters ${name}. Value: ${s}. '${s}' is not a 'date-time'`);
  return d.toISOString();
}

function view(ctx: Context, req: FastifyRequest, r: any, showHost: boolean) {
  const v = mv(req);
  const out: Record<string, unknown> = {
    created_at: novaTime(r.created_at), dest_compute: r.dest_compute, dest_host: r.dest_host, dest_node: r.dest_node, id: Number(r.id),
    instance_uuid: r.instance_uuid, new_instance_type_id: r.new_instance_type_id, old_instance_type_id: r.old_instance_type_id,
    source_compute: r.source_compute, source_node: r.source_node, status: r.status, updated_at: novaTime(r.updated_at),
  };
  if (!showHost) for (const k of ['dest_compute', 'dest_host', 'dest_node', 'source_compute', 'source_node']) out[k] = null;
  if (v.atLeast('2.23')) {
    out.migration_type = r.migration_type;
    if (r.migration_type === 'live-migration' && LIVE_IN_PROGRESS.includes(r.status)) {
      out.links = resourceLinks(ctx, req, `servers/${r.instance_uuid}/migrations`, r.id);
    }
  }
  if (v.atLeast('2.59')) out.uuid = r.uuid;
  return out;
}

export async function migrationRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/os-migrations', async (req) => {
    ctx.policy.authorize('os_compute_api:os-migrations:index', req.auth!, { project_id: req.auth!.projectId });
    const v = mv(req);
    const one = (k: string) => queryAll(req, k).at(-1);
    const projectFilter = one('project_id');
    if (!projectFilter || projectFilter !== req.auth!.projectId) {
      ctx.policy.authorize('os_compute_api:os-migrations:index:all_projects', req.auth!, { project_id: req.auth!.projectId });
    }
    const showHost = allowed(ctx, req, 'os_compute_api:os-migrations:index:host', { project_id: req.auth!.projectId });
    if (v.atLeast('2.59')) {
      const allowedKeys = ['hidden', 'host', 'instance_uuid', 'source_compute', 'status', 'migration_type', 'limit', 'marker', 'changes-since',
        ...(v.atLeast('2.66') ? ['changes-before'] : [])];
      for (const k of Object.keys((req.query ?? {}) as object)) {
        if (!allowedKeys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
      }
    }
    const where = ['deleted = 0', 'hidden = 0'];
    const args: any[] = [];
    const host = one('host');
    if (host) { where.push('(source_compute = ? OR dest_compute = ?)'); args.push(host, host); }
    for (const k of ['status', 'instance_uuid', 'source_compute', 'migration_type']) {
      const val = one(k);
      if (val) { where.push(`${k} = ?`); args.push(val); }
    }
    if (projectFilter) { where.push('project_id = ?'); args.push(projectFilter); }
    let since: string | undefined, before: string | undefined;
    if (v.atLeast('2.59') && one('changes-since')) {
      since = parseIso('changes-since', one('changes-since')!);
      where.push('updated_at >= ?'); args.push(since);
    }
    if (v.atLeast('2.66') && one('changes-before')) {
      before = parseIso('changes-before', one('changes-before')!);
      if (since && before < since) throw badRequest('The value of changes-since must be less than or equal to changes-before.');
      where.push('updated_at <= ?'); args.push(before);
    }
    let rows = await ctx.db.all(`SELECT * FROM migrations WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC`, args);
    let limit = 0;
    if (v.atLeast('2.59')) {
      const lm = limitAndMarker(req);
      limit = lm.limit;
      if (lm.marker !== undefined) {
        const idx = rows.findIndex((r) => r.uuid === lm.marker);
        if (idx < 0) throw badRequest(`Marker ${lm.marker} could not be found.`);
        rows = rows.slice(idx + 1);
      }
      rows = rows.slice(0, limit);
    }
    const out: Record<string, unknown> = { migrations: rows.map((r) => view(ctx, req, r, showHost)) };
    if (v.atLeast('2.59')) {
      const l = nextLinks(ctx, req, 'os-migrations', rows.length, rows.at(-1)?.uuid, limit);
      if (l) out.migrations_links = l;
    }
    return out;
  });
}
