// Compute nodes and services: what nova-compute's resource tracker and service heartbeats keep in
// Nova's database, here synced from the virt driver (one node per vCenter cluster, one
// nova-compute service per node's host) at every start and then periodically. Serves
// /os-hypervisors (list, detail, show, statistics, uptime, and the pre-2.53 search/servers
// routes) and /os-services (list, enable/disable/force-down in both the pre-2.53 and 2.53
// forms, delete). Usage columns (vcpus_used, memory_mb_used, running_vms ...) are computed from
// the live `instances` rows, never stored.
import { hostname as osHostname } from 'node:os';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ComputePart } from './index.ts';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { badRequest, conflict, notFound, notImplemented } from '../core/errors.ts';
import { uuid, isUuid, nowIso } from '../core/ids.ts';
import { mv } from './microversion.ts';
import {
  checkKeys, checkQueryKeys, isObject, limitAndMarker, nextLinks, novaTime, parseBoolean, queryAll, queryOne, show,
} from './common.ts';
import { aggregateRoutes, aggregateMigrations, availabilityZoneOfHost } from './aggregates.ts';
import { usageRoutes } from './usage.ts';
import { migrationMigrations } from './migrations.ts';
import { miscRoutes } from './misc.ts';

/** Nova's [DEFAULT]service_down_time: a service without a heartbeat for this long is "down". */
export const SERVICE_DOWN_SECONDS = 60;
/** Nova's [DEFAULT]report_interval. */
const REPORT_INTERVAL_MS = 10_000;
/** Nova's reserved_host_memory_mb default: counted as used on every node. */
const RESERVED_HOST_MEMORY_MB = 512;
/** Where the in-process scheduler and conductor "run" (Nova's internal_service_availability_zone). */
export const INTERNAL_ZONE = 'internal';
export const DEFAULT_ZONE = 'nova';

export interface NodeRow {
  id: number;
  uuid: string;
  hypervisorHostname: string;
  host: string;
  cluster: string;
  hypervisorType: string;
  hypervisorVersion: number;
  hostIp: string;
  vcpus: number;
  memoryMb: number;
  localGb: number;
  localGbUsedBackend: number;
  cpuInfo: Record<string, unknown>;
  availabilityZone: string;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  diskAllocationRatio: number;
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  state: 'up' | 'down';
  serviceId: number;
  serviceUuid: string;
}

const migrations = [{
  id: 'compute-040-compute-nodes',
  sql: `
CREATE TABLE compute_services (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL,
  host TEXT NOT NULL,
  "binary" TEXT NOT NULL,
  topic TEXT,
  disabled INTEGER NOT NULL DEFAULT 0,
  disabled_reason TEXT,
  forced_down INTEGER NOT NULL DEFAULT 0,
  report_count INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0,
  deleted_at TEXT
);
CREATE UNIQUE INDEX compute_services_uuid_uq ON compute_services (uuid);
CREATE UNIQUE INDEX compute_services_host_binary_uq ON compute_services (host, "binary", deleted);
CREATE TABLE compute_nodes (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL,
  service_id INTEGER,
  host TEXT NOT NULL,
  hypervisor_hostname TEXT NOT NULL,
  cluster TEXT,
  hypervisor_type TEXT NOT NULL,
  hypervisor_version INTEGER NOT NULL,
  host_ip TEXT,
  vcpus INTEGER NOT NULL,
  memory_mb INTEGER NOT NULL,
  local_gb INTEGER NOT NULL,
  local_gb_used_backend INTEGER NOT NULL DEFAULT 0,
  cpu_info TEXT,
  availability_zone TEXT,
  default_availability_zone TEXT,
  cpu_allocation_ratio DOUBLE PRECISION NOT NULL DEFAULT 4.0,
  ram_allocation_ratio DOUBLE PRECISION NOT NULL DEFAULT 1.0,
  disk_allocation_ratio DOUBLE PRECISION NOT NULL DEFAULT 1.0,
  created_at TEXT NOT NULL,
  updated_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0,
  deleted_at TEXT
);
CREATE UNIQUE INDEX compute_nodes_uuid_uq ON compute_nodes (uuid);
CREATE UNIQUE INDEX compute_nodes_hostname_uq ON compute_nodes (hypervisor_hostname, deleted)`,
}];

// ---------------------------------------------------------------------------------------------
// Service liveness

export function serviceIsUp(s: { updated_at?: string | null; created_at?: string; forced_down?: unknown }): boolean {
  if (bool(s.forced_down)) return false;
  const last = s.updated_at ?? s.created_at;
  if (!last) return false;
  return Date.now() - Date.parse(last) <= SERVICE_DOWN_SECONDS * 1000;
}

const NODE_SELECT = `SELECT n.*, s.id AS s_id, s.uuid AS s_uuid, s.disabled AS s_disabled, s.disabled_reason AS s_disabled_reason,
  s.forced_down AS s_forced_down, s.updated_at AS s_updated_at, s.created_at AS s_created_at
  FROM compute_nodes n JOIN compute_services s ON s.host = n.host AND s."binary" = 'nova-compute' AND s.deleted = 0
  WHERE n.deleted = 0`;

function nodeFromRow(r: any): NodeRow {
  return {
    id: Number(r.id), uuid: r.uuid, hypervisorHostname: r.hypervisor_hostname, host: r.host, cluster: r.cluster,
    hypervisorType: r.hypervisor_type, hypervisorVersion: Number(r.hypervisor_version), hostIp: r.host_ip,
    vcpus: Number(r.vcpus), memoryMb: Number(r.memory_mb), localGb: Number(r.local_gb),
    localGbUsedBackend: Number(r.local_gb_used_backend), cpuInfo: fromJson(r.cpu_info, {}),
    availabilityZone: r.availability_zone || DEFAULT_ZONE,
    cpuAllocationRatio: Number(r.cpu_allocation_ratio), ramAllocationRatio: Number(r.ram_allocation_ratio),
    diskAllocationRatio: Number(r.disk_allocation_ratio),
    status: bool(r.s_disabled) ? 'disabled' : 'enabled', disabledReason: r.s_disabled_reason ?? null,
    state: serviceIsUp({ updated_at: r.s_updated_at, created_at: r.s_created_at, forced_down: r.s_forced_down }) ? 'up' : 'down',
    serviceId: Number(r.s_id), serviceUuid: r.s_uuid,
  };
}

/** Nodes the scheduler may place on: service enabled and up, node not deleted. */
export async function listSchedulableNodes(q: Queryable): Promise<NodeRow[]> {
  const rows = await q.all(`${NODE_SELECT} ORDER BY n.id`);
  return rows.map(nodeFromRow).filter((n) => n.status === 'enabled' && n.state === 'up');
}

/** Every live node with its service (admin views). */
export async function listNodes(q: Queryable): Promise<NodeRow[]> {
  return (await q.all(`${NODE_SELECT} ORDER BY n.id`)).map(nodeFromRow);
}

export async function getNode(q: Queryable, hypervisorHostname: string): Promise<NodeRow | null> {
  const r = await q.get(`${NODE_SELECT} AND n.hypervisor_hostname = ?`, [hypervisorHostname]);
  return r ? nodeFromRow(r) : null;
}

// ---------------------------------------------------------------------------------------------
// Sync from the driver (nova-compute's update_available_resource + service heartbeat)

async function nextId(t: Tx, table: 'compute_nodes' | 'compute_services'): Promise<number> {
  await t.lock(`compute:${table}:id`);
  return Number((await t.get(`SELECT COALESCE(MAX(id), 0) + 1 AS n FROM ${table}`))!.n);
}

/** The host name of the controller services (scheduler, conductor) in this process. */
export function controllerHost(): string {
  return osHostname() || 'localhost';
}

/**
 * Ensures a live service row for host/binary. `register` re-creates a deleted one (a service
 * (re)starting registers itself); otherwise only hosts never seen before are added, so that an
 * operator's DELETE /os-services/{id} sticks until the next start.
 */
async function ensureService(t: Tx, host: string, binary: string, topic: string, register: boolean): Promise<boolean> {
  const live = await t.get('SELECT id FROM compute_services WHERE host = ? AND "binary" = ? AND deleted = 0', [host, binary]);
  if (live) return true;
  if (!register && await t.get('SELECT 1 AS x FROM compute_services WHERE host = ? AND "binary" = ?', [host, binary])) return false;
  const id = await nextId(t, 'compute_services');
  const now = nowIso();
  await t.run(`INSERT INTO compute_services (id, uuid, host, "binary", topic, disabled, forced_down, report_count, created_at, updated_at, deleted)
    VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, ?, 0)`, [id, uuid(), host, binary, topic, now, now]);
  return true;
}

/** One pass of the resource tracker over every node the driver reports. */
export async function syncComputeNodes(ctx: Context, register: boolean): Promise<void> {
  const controller = controllerHost();
  let nodes;
  try {
    nodes = await ctx.driver.listNodes();
  } catch (e) {
    // The backend is unreachable: nova-compute stops reporting and its services go "down".
    ctx.log.warn('compute node sync: driver listNodes failed', e);
    nodes = null;
  }
  await ctx.db.tx(async (t) => {
    await t.lock('compute:node-sync');
    const now = nowIso();
    for (const [binary, topic] of [['nova-scheduler', 'scheduler'], ['nova-conductor', 'conductor']]) {
      if (await ensureService(t, controller, binary, topic, register)) {
        await t.run('UPDATE compute_services SET updated_at = ?, report_count = report_count + 1 WHERE host = ? AND "binary" = ? AND deleted = 0', [now, controller, binary]);
      }
    }
    if (!nodes) return;
    const seen = new Set<string>();
    for (const n of nodes) {
      seen.add(n.nodename);
      if (!(await ensureService(t, n.host, 'nova-compute', 'compute', register))) continue;
      const svc = await t.get('SELECT id FROM compute_services WHERE host = ? AND "binary" = ? AND deleted = 0', [n.host, 'nova-compute']);
      await t.run('UPDATE compute_services SET updated_at = ?, report_count = report_count + 1 WHERE id = ?', [now, svc!.id]);
      const existing = await t.get('SELECT id FROM compute_nodes WHERE hypervisor_hostname = ? AND deleted = 0', [n.nodename]);
      const az = await availabilityZoneOfHost(t, n.host, n.availabilityZone);
      if (existing) {
        await t.run(`UPDATE compute_nodes SET service_id = ?, host = ?, cluster = ?, hypervisor_type = ?, hypervisor_version = ?, host_ip = ?,
          vcpus = ?, memory_mb = ?, local_gb = ?, local_gb_used_backend = ?, cpu_info = ?, availability_zone = ?, default_availability_zone = ?, updated_at = ? WHERE id = ?`, [
          svc!.id, n.host, n.clusterName, n.hypervisorType, n.hypervisorVersion, n.hostIp, n.vcpus, n.memoryMb, n.localGb,
          n.localGbUsed, toJson(n.cpuInfo), az, n.availabilityZone ?? null, now, existing.id]);
      } else {
        const id = await nextId(t, 'compute_nodes');
        await t.run(`INSERT INTO compute_nodes (id, uuid, service_id, host, hypervisor_hostname, cluster, hypervisor_type, hypervisor_version,
          host_ip, vcpus, memory_mb, local_gb, local_gb_used_backend, cpu_info, availability_zone, default_availability_zone, created_at, updated_at, deleted)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`, [
          id, uuid(), svc!.id, n.host, n.nodename, n.clusterName, n.hypervisorType, n.hypervisorVersion, n.hostIp,
          n.vcpus, n.memoryMb, n.localGb, n.localGbUsed, toJson(n.cpuInfo), az, n.availabilityZone ?? null, now, now]);
      }
    }
    // Nodes the driver no longer reports are orphans: Nova's resource tracker deletes them.
    for (const r of await t.all('SELECT id, hypervisor_hostname FROM compute_nodes WHERE deleted = 0')) {
      if (!seen.has(r.hypervisor_hostname)) await t.run('UPDATE compute_nodes SET deleted = id, deleted_at = ? WHERE id = ?', [now, r.id]);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Usage per node from instances

export interface NodeUsage { vcpusUsed: number; memoryMbUsed: number; localGbUsed: number; runningVms: number; currentWorkload: number }

export async function nodeUsage(q: Queryable): Promise<Map<string, NodeUsage>> {
  const rows = await q.all(`SELECT node, COUNT(*) AS n, COALESCE(SUM(vcpus), 0) AS c, COALESCE(SUM(memory_mb), 0) AS m,
    COALESCE(SUM(root_gb + ephemeral_gb), 0) AS d, COALESCE(SUM(swap_mb), 0) AS s,
    SUM(CASE WHEN task_state IS NOT NULL THEN 1 ELSE 0 END) AS w
    FROM instances WHERE deleted = 0 AND node IS NOT NULL GROUP BY node`);
  const out = new Map<string, NodeUsage>();
  for (const r of rows) {
    out.set(r.node, {
      vcpusUsed: Number(r.c), memoryMbUsed: Number(r.m), localGbUsed: Number(r.d) + Math.ceil(Number(r.s) / 1024),
      runningVms: Number(r.n), currentWorkload: Number(r.w),
    });
  }
  return out;
}

function stats(n: NodeRow, u: NodeUsage | undefined) {
  const vcpusUsed = u?.vcpusUsed ?? 0;
  const memoryMbUsed = RESERVED_HOST_MEMORY_MB + (u?.memoryMbUsed ?? 0);
  const localGbUsed = u?.localGbUsed ?? 0;
  return {
    vcpus: n.vcpus, memory_mb: n.memoryMb, local_gb: n.localGb,
    vcpus_used: vcpusUsed, memory_mb_used: memoryMbUsed, local_gb_used: localGbUsed,
    free_ram_mb: n.memoryMb - memoryMbUsed, free_disk_gb: n.localGb - localGbUsed,
    current_workload: u?.currentWorkload ?? 0, running_vms: u?.runningVms ?? 0,
    // The vCenter driver reports no disk_available_least.
    disk_available_least: null as number | null,
  };
}

// ---------------------------------------------------------------------------------------------
// /os-hypervisors

async function serversOn(q: Queryable, nodes: NodeRow[]): Promise<Map<string, { name: string; uuid: string }[]>> {
  const out = new Map<string, { name: string; uuid: string }[]>();
  for (const n of nodes) out.set(n.host, []);
  // Nova lists a host's instances by their instance name (instance_name_template 'instance-%08x').
  for (const r of await q.all('SELECT uuid, id, host FROM instances WHERE deleted = 0 AND host IS NOT NULL ORDER BY created_at, uuid')) {
    out.get(r.host)?.push({ name: `instance-${Number(r.id).toString(16).padStart(8, '0')}`, uuid: r.uuid });
  }
  return out;
}

function hypervisorView(req: FastifyRequest, n: NodeRow, u: NodeUsage | undefined, detail: boolean,
  servers?: { name: string; uuid: string }[], withServers = false) {
  const v = mv(req);
  const uuidIds = v.atLeast('2.53');
  const out: Record<string, unknown> = {
    id: uuidIds ? n.uuid : n.id, hypervisor_hostname: n.hypervisorHostname, state: n.state, status: n.status,
  };
  if (detail) {
    out.hypervisor_type = n.hypervisorType;
    out.hypervisor_version = n.hypervisorVersion;
    out.host_ip = n.hostIp;
    out.service = { id: uuidIds ? n.serviceUuid : n.serviceId, host: n.host, disabled_reason: n.disabledReason };
    if (v.below('2.88')) {
      Object.assign(out, stats(n, u));
      out.cpu_info = v.atLeast('2.28') ? n.cpuInfo : JSON.stringify(n.cpuInfo);
    } else {
      // The vCenter driver has no single host uptime to report.
      out.uptime = null;
    }
  }
  if (servers && servers.length) out.servers = servers;
  else if (withServers && v.atLeast('2.75')) out.servers = [];
  return out;
}

function withServersParam(req: FastifyRequest): boolean {
  const raw = queryOne(req, 'with_servers');
  return raw === undefined ? false : parseBoolean(raw, 'with_servers');
}

function likePattern(s: string): string {
  return `%${s.toLowerCase()}%`;
}

async function findNode(ctx: Context, req: FastifyRequest, id: string): Promise<NodeRow> {
  const missing = () => notFound(`Hypervisor with ID '${id}' could not be found.`);
  let r;
  if (mv(req).atLeast('2.53')) {
    if (!isUuid(id)) throw badRequest(`Invalid uuid ${id}`);
    r = await ctx.db.get(`${NODE_SELECT} AND n.uuid = ?`, [id]);
  } else {
    if (!/^\s*[-+]?\d+\s*$/.test(id)) throw missing();
    r = await ctx.db.get(`${NODE_SELECT} AND n.id = ?`, [Number(id)]);
  }
  if (!r) throw missing();
  return nodeFromRow(r);
}

async function listHypervisors(ctx: Context, req: FastifyRequest, detail: boolean) {
  const v = mv(req);
  if (v.atLeast('2.53')) {
    checkQueryKeys(req, ['limit', 'marker', 'hypervisor_hostname_pattern', 'with_servers']);
    for (const k of ['limit', 'marker', 'hypervisor_hostname_pattern', 'with_servers']) {
      if (queryAll(req, k).length > 1) throw badRequest(`Invalid input for query parameters ${k}. Value: ${show(queryAll(req, k))}. ${show(queryAll(req, k))} is too long`);
    }
  }
  const pattern = v.atLeast('2.53') ? queryOne(req, 'hypervisor_hostname_pattern') : undefined;
  const withServers = v.atLeast('2.53') ? withServersParam(req) : false;
  let nodes = await listNodes(ctx.db);
  let links = v.atLeast('2.33');
  let limit = 0;
  if (pattern !== undefined) {
    if (!/^[a-zA-Z0-9-._]*$/.test(pattern) || pattern.length < 1 || pattern.length > 255) {
      throw badRequest(`Invalid input for query parameters hypervisor_hostname_pattern. Value: ${pattern}. '${pattern}' does not match '^[a-zA-Z0-9-._]*$'`);
    }
    if (queryOne(req, 'limit') !== undefined || queryOne(req, 'marker') !== undefined) {
      throw badRequest('Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.');
    }
    links = false;
    nodes = nodes.filter((n) => n.hypervisorHostname.toLowerCase().includes(pattern.toLowerCase()));
    if (!nodes.length) throw notFound(`No hypervisor matching '${pattern}' could be found.`);
  } else if (v.atLeast('2.33')) {
    const lm = limitAndMarker(req);
    limit = lm.limit;
    if (lm.marker !== undefined) {
      const idx = nodes.findIndex((n) => (v.atLeast('2.53') ? n.uuid === lm.marker : String(n.id) === lm.marker));
      if (idx < 0) throw badRequest(`marker [${lm.marker}] not found`);
      nodes = nodes.slice(idx + 1);
    }
    nodes = nodes.slice(0, limit);
  }
  const usage = detail ? await nodeUsage(ctx.db) : new Map<string, NodeUsage>();
  const servers = withServers ? await serversOn(ctx.db, nodes) : undefined;
  const list = nodes.map((n) => hypervisorView(req, n, usage.get(n.hypervisorHostname), detail, servers?.get(n.host), withServers));
  const out: Record<string, unknown> = { hypervisors: list };
  if (links) {
    const last = list.at(-1)?.id;
    const l = nextLinks(ctx, req, detail ? 'os-hypervisors/detail' : 'os-hypervisors', list.length, last === undefined ? undefined : String(last), limit);
    if (l) out.hypervisors_links = l;
  }
  return out;
}

async function hypervisorRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/os-hypervisors', async (req) => {
    ctx.policy.authorize('os_compute_api:os-hypervisors:list', req.auth!, {});
    return listHypervisors(ctx, req, false);
  });

  app.get('/os-hypervisors/detail', async (req) => {
    ctx.policy.authorize('os_compute_api:os-hypervisors:list-detail', req.auth!, {});
    return listHypervisors(ctx, req, true);
  });

  app.get('/os-hypervisors/statistics', async (req) => {
    if (mv(req).atLeast('2.88')) throw notFound('The resource could not be found.');
    ctx.policy.authorize('os_compute_api:os-hypervisors:statistics', req.auth!, {});
    const usage = await nodeUsage(ctx.db);
    const sum: Record<string, number | null> = {
      count: 0, vcpus_used: 0, local_gb_used: 0, memory_mb: 0, current_workload: 0, vcpus: 0, running_vms: 0,
      free_disk_gb: 0, disk_available_least: 0, local_gb: 0, free_ram_mb: 0, memory_mb_used: 0,
    };
    for (const n of await listNodes(ctx.db)) {
      if (n.status !== 'enabled') continue; // Nova sums over enabled compute services only
      const s = stats(n, usage.get(n.hypervisorHostname)) as Record<string, number | null>;
      sum.count = (sum.count as number) + 1;
      for (const k of Object.keys(sum)) if (k !== 'count') sum[k] = (sum[k] as number) + (s[k] ?? 0);
    }
    return { hypervisor_statistics: sum };
  });

  app.get<{ Params: { id: string } }>('/os-hypervisors/:id', async (req) => {
    const v = mv(req);
    if (v.atLeast('2.53')) checkQueryKeys(req, ['with_servers']);
    const withServers = v.atLeast('2.53') ? withServersParam(req) : false;
    ctx.policy.authorize('os_compute_api:os-hypervisors:show', req.auth!, {});
    const n = await findNode(ctx, req, req.params.id);
    const usage = await nodeUsage(ctx.db);
    const servers = withServers ? (await serversOn(ctx.db, [n])).get(n.host) : undefined;
    return { hypervisor: hypervisorView(req, n, usage.get(n.hypervisorHostname), true, servers, withServers) };
  });

  app.get<{ Params: { id: string } }>('/os-hypervisors/:id/uptime', async (req) => {
    if (mv(req).atLeast('2.88')) throw notFound('The resource could not be found.');
    ctx.policy.authorize('os_compute_api:os-hypervisors:uptime', req.auth!, {});
    await findNode(ctx, req, req.params.id);
    // Nova's vCenter driver: one node spans many ESXi hosts, so there is no host uptime.
    throw notImplemented('The requested functionality is not supported.');
  });

  // Before 2.53: search by hostname pattern on dedicated routes.
  for (const [suffix, rule, withServers] of [['search', 'search', false], ['servers', 'servers', true]] as const) {
    app.get<{ Params: { id: string } }>(`/os-hypervisors/:id/${suffix}`, async (req) => {
      if (mv(req).atLeast('2.53')) throw notFound('The resource could not be found.');
      ctx.policy.authorize(`os_compute_api:os-hypervisors:${rule}`, req.auth!, {});
      const pattern = req.params.id;
      const nodes = (await listNodes(ctx.db)).filter((n) => n.hypervisorHostname.toLowerCase().includes(pattern.toLowerCase()));
      if (!nodes.length) throw notFound(`No hypervisor matching '${pattern}' could be found.`);
      const servers = withServers ? await serversOn(ctx.db, nodes) : undefined;
      return { hypervisors: nodes.map((n) => hypervisorView(req, n, undefined, false, servers?.get(n.host))) };
    });
  }
}

// ---------------------------------------------------------------------------------------------
// /os-services

async function serviceZone(q: Queryable, s: any): Promise<string> {
  if (s.binary !== 'nova-compute') return INTERNAL_ZONE;
  const n = await q.get('SELECT availability_zone FROM compute_nodes WHERE host = ? AND deleted = 0 ORDER BY id LIMIT 1', [s.host]);
  return n?.availability_zone || (await availabilityZoneOfHost(q, s.host, undefined));
}

async function serviceView(q: Queryable, req: FastifyRequest, s: any) {
  const v = mv(req);
  const out: Record<string, unknown> = {
    binary: s.binary, host: s.host, id: v.atLeast('2.53') ? s.uuid : Number(s.id), zone: await serviceZone(q, s),
    status: bool(s.disabled) ? 'disabled' : 'enabled', state: serviceIsUp(s) ? 'up' : 'down',
    updated_at: novaTime(s.updated_at), disabled_reason: s.disabled_reason ?? null,
  };
  if (v.atLeast('2.11')) out.forced_down = bool(s.forced_down);
  return out;
}

function stringField(body: Record<string, any>, key: string, max = 255): string | undefined {
  if (!(key in body)) return undefined;
  const v = body[key];
  if (typeof v !== 'string') throw badRequest(`Invalid input for field/attribute ${key}. Value: ${show(v)}. ${show(v)} is not of type 'string'`);
  if (v.length < 1) throw badRequest(`Invalid input for field/attribute ${key}. Value: ${show(v)}. ${show(v)} is too short`);
  if (v.length > max) throw badRequest(`Invalid input for field/attribute ${key}. Value: ${show(v)}. ${show(v)} is too long`);
  return v;
}

async function serviceRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/os-services', async (req) => {
    ctx.policy.authorize('os_compute_api:os-services:list', req.auth!, {});
    if (mv(req).atLeast('2.75')) checkQueryKeys(req, ['host', 'binary']);
    const host = queryOne(req, 'host');
    const binary = queryOne(req, 'binary');
    let rows = await ctx.db.all('SELECT * FROM compute_services WHERE deleted = 0 ORDER BY id');
    if (host) rows = rows.filter((r) => r.host === host);
    if (binary) rows = rows.filter((r) => r.binary === binary);
    const services = [];
    for (const r of rows) services.push(await serviceView(ctx.db, req, r));
    return { services };
  });

  app.put<{ Params: { id: string } }>('/os-services/:id', async (req) => {
    const v = mv(req);
    const body = req.body;
    if (!isObject(body)) throw badRequest(`Invalid input for field/attribute body. Value: ${show(body)}. ${show(body)} is not of type 'object'`);
    if (v.atLeast('2.53')) {
      checkKeys(body, ['status', 'disabled_reason', 'forced_down']);
      if ('status' in body && body.status !== 'enabled' && body.status !== 'disabled') {
        throw badRequest(`Invalid input for field/attribute status. Value: ${show(body.status)}. ${show(body.status)} is not one of ['enabled', 'disabled']`);
      }
      const reason = stringField(body, 'disabled_reason');
      const forced = 'forced_down' in body ? parseBoolean(body.forced_down, 'forced_down') : undefined;
      const id = req.params.id;
      if (!isUuid(id)) throw badRequest(`Invalid uuid ${id}`);
      ctx.policy.authorize('os_compute_api:os-services:update', req.auth!, {});
      const s = await ctx.db.get('SELECT * FROM compute_services WHERE uuid = ? AND deleted = 0', [id]);
      if (!s) throw notFound(`Service ${id} could not be found.`);
      if (s.binary !== 'nova-compute') throw badRequest(`Updating a ${s.binary} service is not supported. Only nova-compute services can be updated.`);
      const sets: string[] = [];
      const params: any[] = [];
      if (body.status === 'enabled') {
        if (reason) throw badRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.");
        sets.push('disabled = 0', 'disabled_reason = NULL');
      } else if (body.status === 'disabled') {
        sets.push('disabled = 1', 'disabled_reason = ?');
        params.push(reason ?? null);
      }
      if (forced !== undefined) { sets.push('forced_down = ?'); params.push(forced ? 1 : 0); }
      if (!sets.length) throw badRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.");
      await ctx.db.run(`UPDATE compute_services SET ${sets.join(', ')} WHERE id = ?`, [...params, s.id]);
      const updated = await ctx.db.get('SELECT * FROM compute_services WHERE id = ?', [s.id]);
      return { service: await serviceView(ctx.db, req, updated) };
    }
    // Before 2.53: PUT /os-services/{enable|disable|disable-log-reason|force-down} with host + binary.
    const action = req.params.id;
    const keys = ['host', 'binary', 'disabled_reason', ...(v.atLeast('2.11') ? ['forced_down'] : [])];
    checkKeys(body, keys, ['host', 'binary']);
    const host = stringField(body, 'host')!;
    if (!/^[a-zA-Z0-9-._]*$/.test(host)) throw badRequest(`Invalid input for field/attribute host. Value: ${show(host)}. ${show(host)} does not match '^[a-zA-Z0-9-._]*$'`);
    const binary = stringField(body, 'binary')!;
    const reason = stringField(body, 'disabled_reason');
    const forcedRaw = body.forced_down;
    if ('forced_down' in body) parseBoolean(forcedRaw, 'forced_down');
    ctx.policy.authorize('os_compute_api:os-services:update', req.auth!, {});
    const actions = ['enable', 'disable', 'disable-log-reason', ...(v.atLeast('2.11') ? ['force-down'] : [])];
    if (!actions.includes(action)) throw notFound('Unknown action');
    let update: { sql: string; params: any[] };
    let result: Record<string, unknown>;
    if (action === 'force-down') {
      if (!('forced_down' in body)) throw badRequest('Missing forced_down field');
      const forced = parseBoolean(forcedRaw, 'forced_down');
      update = { sql: 'forced_down = ?', params: [forced ? 1 : 0] };
      result = { host, binary, forced_down: forced };
    } else if (action === 'enable') {
      update = { sql: 'disabled = 0, disabled_reason = NULL', params: [] };
      result = { host, binary, status: 'enabled' };
    } else {
      if (action === 'disable-log-reason' && reason === undefined) throw badRequest('Missing disabled reason field');
      const r = action === 'disable-log-reason' ? reason! : null;
      update = { sql: 'disabled = 1, disabled_reason = ?', params: [r] };
      result = { host, binary, status: 'disabled', ...(r ? { disabled_reason: r } : {}) };
    }
    if (binary !== 'nova-compute') throw badRequest(`Updating a ${binary} service is not supported. Only nova-compute services can be updated.`);
    const r = await ctx.db.run(`UPDATE compute_services SET ${update.sql} WHERE host = ? AND "binary" = ? AND deleted = 0`, [...update.params, host, binary]);
    if (!r.changes) throw notFound(`Service ${binary} on host ${host} could not be found.`);
    return { service: result };
  });

  app.delete<{ Params: { id: string } }>('/os-services/:id', async (req, reply) => {
    ctx.policy.authorize('os_compute_api:os-services:delete', req.auth!, {});
    const id = req.params.id;
    const v253 = mv(req).atLeast('2.53');
    if (v253 && !isUuid(id)) throw badRequest(`Invalid uuid ${id}`);
    if (!v253 && !/^\s*[-+]?\d+\s*$/.test(id)) throw badRequest('Invalid input received: id must be an integer.');
    await ctx.db.tx(async (t) => {
      await t.lock('compute:node-sync');
      const s = v253
        ? await t.get('SELECT * FROM compute_services WHERE uuid = ? AND deleted = 0', [id])
        : await t.get('SELECT * FROM compute_services WHERE id = ? AND deleted = 0', [Number(id)]);
      if (!s) throw notFound(`Service ${id} not found.`);
      const now = nowIso();
      if (s.binary === 'nova-compute') {
        const n = await t.get('SELECT COUNT(*) AS n FROM instances WHERE host = ? AND deleted = 0', [s.host]);
        if (Number(n?.n ?? 0) > 0) throw conflict('Unable to delete compute service that is hosting instances. Migrate or delete the instances first.');
        await t.run('UPDATE compute_nodes SET deleted = id, deleted_at = ? WHERE host = ? AND deleted = 0', [now, s.host]);
        await t.run('DELETE FROM aggregate_hosts WHERE host = ?', [s.host]);
      }
      await t.run('UPDATE compute_services SET deleted = id, deleted_at = ? WHERE id = ?', [now, s.id]);
    });
    return reply.code(204).send();
  });
}

// ---------------------------------------------------------------------------------------------

// Periodic sync loops of the clouds started in this process (tests may run several at once).
const loops: { ctx: Context; timer: NodeJS.Timeout; running: Promise<void> | null }[] = [];

export const hypervisors: ComputePart = {
  migrations: [...migrations, ...aggregateMigrations, ...migrationMigrations],
  async routes(app, ctx) {
    await hypervisorRoutes(app, ctx);
    await serviceRoutes(app, ctx);
    await aggregateRoutes(app, ctx);
    await usageRoutes(app, ctx);
    await miscRoutes(app, ctx);
  },
  async seed(ctx) {
    // Like nova-compute starting: every node registers (again) and reports its resources.
    await syncComputeNodes(ctx, true);
  },
  async start(ctx) {
    const loop: { ctx: Context; timer: NodeJS.Timeout; running: Promise<void> | null } = { ctx, timer: null as any, running: null };
    const tick = () => {
      if (loop.running) return;
      loop.running = syncComputeNodes(ctx, false).catch((e) => ctx.log.error('compute node sync failed', e)).finally(() => { loop.running = null; });
    };
    loop.timer = setInterval(tick, REPORT_INTERVAL_MS);
    loop.timer.unref();
    loops.push(loop);
  },
  async stop(ctx?: Context) {
    // Stop this cloud's loop (several clouds may run in one test process); without a context, all.
    for (let i = loops.length - 1; i >= 0; i--) {
      const l = loops[i];
      if (ctx && l.ctx !== ctx) continue;
      loops.splice(i, 1);
      clearInterval(l.timer);
      if (l.running) await l.running;
    }
  },
};
