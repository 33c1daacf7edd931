// Cinder's os-services (admin): the scheduler and the one volume backend (vistack@vmdk), their
// enabled/disabled state with a reason, and freeze/thaw of the backend. A disabled cinder-volume
// takes no new volumes (their create ends in error, as when Cinder's scheduler finds no backend);
// a frozen backend refuses volume creates and deletes until it is thawed.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable } from '../core/db/index.ts';
import { bool } from '../core/db/index.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { nowIso } from '../core/ids.ts';
import { VOLUME_HOST } from './hosts.ts';
import { atLeast, requireVersion } from './microversion.ts';
import { isUuid } from '../core/ids.ts';
import { parseBool } from './common.ts';

const SERVICES = [{ host: 'vistack', binary: 'cinder-scheduler' }, { host: VOLUME_HOST, binary: 'cinder-volume' }];

interface ServiceState { host: string; binary: string; disabled: boolean; disabledReason: string | null; frozen: boolean; updatedAt: string | null }

async function states(q: Queryable): Promise<ServiceState[]> {
  const rows = await q.all('SELECT * FROM cinder_services');
  return SERVICES.map((s) => {
    const r = rows.find((x) => x.host === s.host && x.service_binary === s.binary);
    return { ...s, disabled: bool(r?.disabled), disabledReason: r?.disabled_reason ?? null, frozen: bool(r?.frozen), updatedAt: r?.updated_at ?? null };
  });
}

async function save(q: Queryable, host: string, binary: string, set: { disabled?: boolean; disabled_reason?: string | null; frozen?: boolean }) {
  const cur = (await states(q)).find((s) => s.host === host && s.binary === binary)!;
  await q.run(`INSERT INTO cinder_services (host, service_binary, disabled, disabled_reason, frozen, updated_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (host, service_binary) DO UPDATE SET disabled = excluded.disabled, disabled_reason = excluded.disabled_reason, frozen = excluded.frozen, updated_at = excluded.updated_at`,
  [host, binary, set.disabled ?? cur.disabled, set.disabled_reason !== undefined ? set.disabled_reason : cur.disabledReason, set.frozen ?? cur.frozen, nowIso()]);
}

/** Whether the volume backend takes new volumes (enabled) and management operations (not frozen). */
export async function backendState(q: Queryable): Promise<{ disabled: boolean; frozen: boolean }> {
  const s = (await states(q)).find((x) => x.binary === 'cinder-volume')!;
  return { disabled: s.disabled, frozen: s.frozen };
}

/** 400 while the backend is frozen (os-services freeze). */
export async function assertNotFrozen(q: Queryable): Promise<void> {
  if ((await backendState(q)).frozen) throw badRequest('Invalid input received: The volume backend is frozen; volume management operations are not allowed until it is thawed.');
}

const time = (iso: string | null) => `${(iso ?? new Date().toISOString()).slice(0, 19)}.000000`;

/** Cinder's integer service ids, in the order of SERVICES. */
const serviceId = (s: { host: string; binary: string }) => SERVICES.findIndex((x) => x.host === s.host && x.binary === s.binary) + 1;

/**
 * POST /workers/cleanup (3.24, admin): cleanup of the interrupted operations of services that
 * are down (or, with is_up, of those that are up). Ours are always up, and an interrupted
 * operation here is a durable task that resumes by itself, so there is never anything left to
 * clean: the request selects services as Cinder does and reports them as cleaning (a service in
 * no cluster cleans itself), without anything more to do.
 */
function cleanupRoutes(app: FastifyInstance, ctx: Context) {
  app.post('/workers/cleanup', async (req, reply: FastifyReply) => {
    requireVersion(req, '3.24');
    const raw = req.body ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw)) throw badRequest("Invalid input for field/attribute body. Value must be an object.");
    const b = raw as Record<string, unknown>;
    const known = ['cluster_name', 'disabled', 'host', 'is_up', 'binary', 'resource_id', 'resource_type', 'service_id'];
    for (const k of Object.keys(b)) if (!known.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    for (const k of ['cluster_name', 'host']) {
      if (b[k] !== undefined && b[k] !== null && (typeof b[k] !== 'string' || !/^[a-zA-Z0-9-._#@:]{1,255}$/.test(b[k] as string))) {
        throw badRequest(`Invalid input for field/attribute ${k}. Value: ${JSON.stringify(b[k])}. ${JSON.stringify(b[k])} is not a 'hostname'`);
      }
    }
    if (b.binary !== undefined && b.binary !== 'cinder-volume' && b.binary !== 'cinder-scheduler') {
      throw badRequest(`Invalid input for field/attribute binary. Value: ${JSON.stringify(b.binary)}. ${JSON.stringify(b.binary)} is not one of ['cinder-volume', 'cinder-scheduler']`);
    }
    if (b.service_id !== undefined && b.service_id !== null && !(Number.isInteger(b.service_id) && (b.service_id as number) >= 1)) {
      throw badRequest(`Invalid input for field/attribute service_id. Value: ${JSON.stringify(b.service_id)}. ${JSON.stringify(b.service_id)} is not of type 'integer'`);
    }
    const flag = (k: string) => (b[k] === undefined || b[k] === null ? undefined : parseBool(b[k], k));
    const disabled = flag('disabled');
    const isUp = flag('is_up') ?? false;
    if (b.resource_id !== undefined && b.resource_id !== null && (typeof b.resource_id !== 'string' || !isUuid(b.resource_id))) {
      throw badRequest(`Invalid input for field/attribute resource_id. Value: ${JSON.stringify(b.resource_id)}. ${JSON.stringify(b.resource_id)} is not a 'uuid'`);
    }
    if (b.resource_type !== undefined && b.resource_type !== null) {
      const t = String(b.resource_type).toLowerCase().replace(/^./, (c) => c.toUpperCase());
      if (t !== 'Volume' && t !== 'Snapshot') throw badRequest(`Invalid input received: Resource type ${t} not valid, must be Volume or Snapshot`);
    }
    ctx.policy.authorize('workers:cleanup', req.auth!, {});
    if (b.resource_id && !b.service_id && !b.cluster_name && !b.host) {
      throw badRequest(`Invalid input received: There is no resource with UUID ${b.resource_id} pending cleanup.`);
    }
    // Every service here is up: only a request with is_up selects any.
    const list = (isUp ? await states(ctx.db) : [])
      .filter((s) => b.service_id === undefined || b.service_id === null || serviceId(s) === b.service_id)
      .filter((s) => !b.host || s.host === b.host || s.host.startsWith(`${b.host}@`))
      .filter((s) => !b.binary || s.binary === b.binary)
      .filter((s) => disabled === undefined || s.disabled === disabled)
      // No service is in a cluster.
      .filter(() => !b.cluster_name);
    reply.code(202);
    return { cleaning: list.map((s) => ({ id: serviceId(s), host: s.host, binary: s.binary, cluster_name: null })), unavailable: [] };
  });
}

export async function serviceRoutes(app: FastifyInstance, ctx: Context) {
  cleanupRoutes(app, ctx);
  app.get('/os-services', async (req) => {
    ctx.policy.authorize('volume_extension:services:index', req.auth!, {});
    // Filters as Cinder's service list: host matches "host" or "host@backend"; binary exactly.
    const q = req.query as Record<string, string>;
    const list = (await states(ctx.db))
      .filter((x) => q.host === undefined || x.host === q.host || x.host.startsWith(`${q.host}@`))
      .filter((x) => q.binary === undefined || x.binary === q.binary);
    return {
      services: list.map((s) => ({
        binary: s.binary, host: s.host, zone: 'nova', status: s.disabled ? 'disabled' : 'enabled', state: 'up',
        updated_at: time(s.updatedAt), disabled_reason: s.disabledReason,
        ...(s.binary === 'cinder-volume' ? { replication_status: 'disabled', active_backend_id: null, frozen: s.frozen } : {}),
        // 3.7: the service's cluster; ours are in none.
        ...(atLeast(req, '3.7') ? { cluster: null } : {}),
      })),
    };
  });

  app.put<{ Params: { action: string } }>('/os-services/:action', async (req, reply: FastifyReply) => {
    ctx.policy.authorize('volume_extension:services:update', req.auth!, {});
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('Malformed request body');
    const action = req.params.action;
    // freeze, thaw and failover_host: a host, or from 3.26 exactly one of host and cluster.
    if (action === 'freeze' || action === 'thaw' || action === 'failover_host') {
      const keys = ['host', 'cluster', ...(action === 'failover_host' ? ['backend_id'] : [])];
      for (const k of Object.keys(body)) if (!keys.includes(k)) throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
      const clustered = atLeast(req, '3.26');
      const cluster = clustered && body.cluster ? String(body.cluster) : undefined;
      const h = body.host ? String(body.host) : undefined;
      if (!!cluster === !!h) throw badRequest(`Invalid input received: ${clustered ? 'One and only one of cluster and host must be set.' : 'Host field is missing.'}`);
      // No service is in a cluster.
      if (cluster) throw badRequest('Invalid input received: Service cinder-volume could not be found.');
      if (h !== VOLUME_HOST) throw badRequest(`Invalid input received: Host ${h} not found.`);
      if (action === 'failover_host') {
        // The VMDK backend has no replication: its replication_status is disabled, never failed over.
        throw badRequest(`Invalid input received: No service could be changed: replication_status in ['${VOLUME_HOST}'] must be ['enabled', 'failed-over'] and must be up to failover.`);
      }
      await save(ctx.db, VOLUME_HOST, 'cinder-volume', { frozen: action === 'freeze' });
      return reply.code(200).send();
    }
    if (action !== 'enable' && action !== 'disable' && action !== 'disable-log-reason') throw new ApiError(404, `Unknown action ${action}`);
    const host = body.host;
    if (typeof host !== 'string' || !host) throw badRequest('Missing required element \'host\' in request body.');
    const binary = body.binary ?? body.service;
    if (typeof binary !== 'string' || !binary) throw badRequest('Missing required element \'binary\' in request body.');
    let reason: string | null = null;
    if (action === 'disable-log-reason') {
      const r = body.disabled_reason;
      if (r === undefined || r === null) throw badRequest('Missing disabled reason field');
      if (typeof r !== 'string' || !r.trim() || r.length > 255) throw badRequest('Disabled reason contains invalid characters or is too long');
      reason = r;
    }
    const svc = SERVICES.find((s) => s.host === host && s.binary === binary);
    if (!svc) throw new ApiError(404, `Service ${binary} on host ${host} could not be found.`);
    const disabled = action !== 'enable';
    await save(ctx.db, host, binary, { disabled, disabled_reason: reason });
    return {
      host, service: binary, binary, disabled, status: disabled ? 'disabled' : 'enabled',
      ...(action === 'disable' ? {} : { disabled_reason: reason }),
    };
  });
}
