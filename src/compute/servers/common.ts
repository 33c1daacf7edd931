// Helpers shared by the servers routes: looking a server up the way Nova's common.get_instance
// does (404 for malformed ids and for other projects' servers unless admin), state checks with
// Nova's 409 wording, and the query string as a multi-dict.
import type { FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { conflict, notFound } from '../../core/errors.ts';
import { isUuid } from '../../core/ids.ts';
import { isAdmin } from '../common.ts';
import { getInstance, type Instance } from './db.ts';

/** The query string as webob's MultiDict: every parameter as a list of strings. */
export function queryMulti(req: FastifyRequest): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
    out[k] = (Array.isArray(v) ? v : [v]).map((x) => String(x));
  }
  return out;
}

/** Nova's 404 for servers: also for non-UUID ids and for servers of other projects (project_only reads). */
export async function findServer(ctx: Context, req: FastifyRequest, id: string, o: { includeDeleted?: boolean } = {}): Promise<Instance> {
  const missing = () => notFound(`Instance ${id} could not be found.`);
  if (!isUuid(id)) throw missing();
  const inst = await getInstance(ctx.db, normalizeUuid(id));
  if (!inst || (inst.deleted && !o.includeDeleted)) throw missing();
  if (!isAdmin(ctx, req) && inst.projectId !== req.auth!.projectId) throw missing();
  return inst;
}

/** Dashed lower-case form of a UUID given without dashes. */
export function normalizeUuid(id: string): string {
  const h = id.replace(/-/g, '').toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Nova's InstanceInvalidState as the API renders it (raise_http_conflict_for_instance_invalid_state). */
export function invalidState(action: string, id: string, attr: string, state: string | null) {
  return conflict(`Cannot '${action}' instance ${id} while it is in ${attr} ${state ?? 'None'}`);
}

/**
 * check_instance_state: vm_state in `vm` (when given), task_state in `task` (default: none in
 * progress), and launched at least once (must_have_launched).
 */
export function checkState(inst: Instance, action: string, o: { vm?: string[] | null; task?: (string | null)[] | null; mustHaveLaunched?: boolean } = {}) {
  const vm = o.vm === undefined ? null : o.vm;
  const task = o.task === undefined ? [null] : o.task;
  if (vm && !vm.includes(inst.vmState)) throw invalidState(action, inst.uuid, 'vm_state', inst.vmState);
  if (task && !task.includes(inst.taskState)) throw invalidState(action, inst.uuid, 'task_state', inst.taskState);
  if ((o.mustHaveLaunched ?? true) && !inst.launchedAt) throw invalidState(action, inst.uuid, 'launched_at', null);
}

/** check_instance_lock: a locked server refuses actions to non-admins. */
export function checkLock(ctx: Context, req: FastifyRequest, inst: Instance) {
  if (inst.lockedBy && !isAdmin(ctx, req)) throw conflict(`Instance ${inst.uuid} is locked`);
}

/** check_instance_host: the server must have been placed. */
export function checkHost(inst: Instance) {
  if (!inst.host) throw conflict(`Instance ${inst.uuid} is not ready`);
}

/** An IPv6 address in netaddr's compact form (RFC 5952; embedded IPv4 as hex except ::ffff:a.b.c.d). */
export function canonicalIpv6(addr: string): string {
  let s = addr.trim().toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, null];
  const h = head ? head.split(':') : [];
  const t = tail === null ? [] : tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const g = groups.map((x) => parseInt(x || '0', 16));
  if (g.length !== 8 || g.some((x) => Number.isNaN(x))) return addr;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** An IPv4 address as netaddr prints it (no leading zeros). */
export function canonicalIpv4(addr: string): string {
  return addr.trim().split('.').map((x) => String(Number(x))).join('.');
}
