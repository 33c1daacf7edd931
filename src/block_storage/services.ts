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

export async function serviceRoutes(app: FastifyInstance, ctx: Context) {
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
      })),
    };
  });

  app.put<{ Params: { action: string } }>('/os-services/:action', async (req, reply: FastifyReply) => {
    ctx.policy.authorize('volume_extension:services:update', req.auth!, {});
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('Malformed request body');
    const action = req.params.action;
    const host = body.host;
    if (typeof host !== 'string' || !host) throw badRequest('Missing required element \'host\' in request body.');
    if (action === 'freeze' || action === 'thaw') {
      if (host !== VOLUME_HOST) throw badRequest(`Invalid input received: Host ${host} not found.`);
      await save(ctx.db, VOLUME_HOST, 'cinder-volume', { frozen: action === 'freeze' });
      return reply.code(200).send();
    }
    if (action !== 'enable' && action !== 'disable' && action !== 'disable-log-reason') throw new ApiError(404, `Unknown action ${action}`);
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
