// os-interface (nova/api/openstack/compute/attach_interfaces.py): the ports of a server, and
// interface attach/detach. Attach validates through NetworkApi, allocates the port (idempotent per
// instance and request, so the port is bound to the instance in Neutron before anything else) and
// plugs it with a durable task the request waits for, as Nova's API waits for its RPC call.
// Detach is a durable task (202): the NIC off the VM, then the port deleted or unbound.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { ApiError, badRequest, notFound } from '../../core/errors.ts';
import { isUuid } from '../../core/ids.ts';
import { InstanceNotFound, VirtDriverError } from '../../core/virt.ts';
import { PermanentError, type TaskRecord } from '../../core/tasks.ts';
import type { InstanceVif } from '../../network/api.ts';
import { mv } from '../microversion.ts';
import { getInstance, VM, type Instance } from './db.ts';
import { checkLock, checkState, findServer } from './common.ts';
import { recordAction, withEvent } from './instance_actions.ts';
import { vifSpec, vifsOf } from './network.ts';
import * as S from './schemas.ts';
import { validateBody, type Schema } from './validate.ts';

export const INTERFACE = 'compute.interface';

const project = (i: Instance) => ({ project_id: i.projectId });

const createSchema = (req: FastifyRequest): Schema => ({
  type: 'object',
  properties: {
    interfaceAttachment: {
      type: 'object',
      properties: {
        net_id: { type: 'string', format: 'uuid' }, port_id: { type: 'string', format: 'uuid' },
        fixed_ips: {
          type: 'array', minItems: 1, maxItems: 1,
          items: { type: 'object', properties: { ip_address: { type: 'string', oneOf: [{ format: 'ipv4' }, { format: 'ipv6' }] } }, required: ['ip_address'], additionalProperties: false },
        },
        ...(mv(req).atLeast('2.49') ? { tag: S.tag } : {}),
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
});

/** Nova's interface view (port_state from the port, tag at 2.70). */
function view(req: FastifyRequest, v: InstanceVif) {
  const out: Record<string, unknown> = {
    net_id: v.networkId, port_id: v.portId, mac_addr: v.macAddress, port_state: v.status ?? 'ACTIVE',
    fixed_ips: v.fixedIps.map((ip) => ({ subnet_id: ip.subnetId, ip_address: ip.address })),
  };
  if (mv(req).atLeast('2.70')) out.tag = v.tag;
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for a task to end: gone = done, 'failed' = its last error. Gives up quietly after a while (it goes on). */
export async function awaitTask(ctx: Context, taskId: string, timeoutMs = 120_000): Promise<string | null> {
  const until = Date.now() + timeoutMs;
  let delay = 5;
  while (Date.now() < until) {
    const r = await ctx.db.get('SELECT state, last_error FROM tasks WHERE id = ?', [taskId]);
    if (!r) return null;
    if (r.state === 'failed') return String(r.last_error ?? 'failed');
    await sleep(delay);
    delay = Math.min(100, delay * 2);
  }
  return null;
}

interface InterfacePayload { uuid: string; op: 'attach' | 'detach'; portId: string; vif?: InstanceVif; actionId?: string }

async function runInterfaceTask(ctx: Context, task: TaskRecord) {
  const p = task.payload as InterfacePayload;
  const inst = await getInstance(ctx.db, p.uuid);
  const api = ctx.services.network;
  if (!api) throw new PermanentError('The network service is not available');
  if (!inst || inst.deleted) {
    // The server went away meanwhile: its delete deallocates every port.
    return;
  }
  if (p.op === 'attach') {
    await withEvent(ctx, p.actionId, 'compute_attach_interface', inst.host, async () => {
      try {
        await ctx.driver.attachInterface(inst.uuid, vifSpec(p.vif!));
      } catch (e) {
        if (e instanceof VirtDriverError || e instanceof InstanceNotFound) {
          // Nova's InterfaceAttachFailed: the port it made is given back.
          await api.deallocatePort(inst.uuid, p.portId);
          throw new PermanentError(`Failed to attach network adapter device to ${inst.uuid}`);
        }
        throw e;
      }
    });
    return;
  }
  await withEvent(ctx, p.actionId, 'compute_detach_interface', inst.host, async () => {
    try { await ctx.driver.detachInterface(inst.uuid, p.portId); } catch (e) { if (!(e instanceof InstanceNotFound)) throw e; }
    await api.deallocatePort(inst.uuid, p.portId);
  });
}

export function registerInterfaceTasks(ctx: Context) {
  ctx.tasks.register(INTERFACE, { run: (t) => runInterfaceTask(ctx, t) });
}

export async function interfaceRoutes(app: FastifyInstance, ctx: Context) {
  const base = '/servers/:server_id/os-interface';

  app.get<{ Params: { server_id: string } }>(base, async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-attach-interfaces:list', req.auth!, project(inst));
    const vifs = (await vifsOf(ctx, [inst.uuid])).get(inst.uuid) ?? [];
    return { interfaceAttachments: vifs.map((v) => view(req, v)) };
  });

  app.get<{ Params: { server_id: string; port_id: string } }>(`${base}/:port_id`, async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-attach-interfaces:show', req.auth!, project(inst));
    const vif = ((await vifsOf(ctx, [inst.uuid])).get(inst.uuid) ?? []).find((v) => v.portId === req.params.port_id);
    if (!vif) throw notFound(`Instance ${inst.uuid} does not have a port with id ${req.params.port_id}`);
    return { interfaceAttachment: view(req, vif) };
  });

  app.post<{ Params: { server_id: string } }>(base, async (req) => {
    validateBody(createSchema(req), req.body ?? {});
    const a = ((req.body as any) ?? {}).interfaceAttachment ?? {};
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-attach-interfaces:create', req.auth!, project(inst));
    if (a.fixed_ips && !a.net_id) throw badRequest('Must input network_id when request IP address');
    if (a.net_id && a.port_id) throw badRequest('Must not input both network_id and port_id');
    checkLock(ctx, req, inst);
    checkState(inst, 'attach_interface', { vm: [VM.ACTIVE, VM.PAUSED, VM.STOPPED] });
    const api = ctx.services.network;
    if (!api) {
      if (a.port_id) throw notFound(`Port id ${a.port_id} could not be found.`);
      if (a.net_id) throw notFound(`Network ${a.net_id} could not be found.`);
      throw notFound('No networks are available to attach an interface to.');
    }
    const requested = {
      ...(a.net_id ? { networkId: a.net_id } : {}), ...(a.port_id ? { portId: a.port_id } : {}),
      ...(a.fixed_ips ? { fixedIp: a.fixed_ips[0].ip_address } : {}), ...(a.tag !== undefined ? { tag: a.tag } : {}),
    };
    // Server create answers 400 for a network it cannot find; os-interface answers 404 (Nova's
    // NetworkNotFound / PortNotFound handling in attach_interfaces.py).
    await api.validateNetworks(req.auth!, a.net_id || a.port_id ? [requested] : [], [], 1).catch((e) => {
      if (e instanceof ApiError && e.status === 400 && /could not be found/.test(e.message)) throw notFound(e.message);
      // FixedIpAlreadyInUse is a conflict for os-interface (attach_interfaces.py).
      if (e instanceof ApiError && e.status === 400 && /already in use/.test(e.message)) throw new ApiError(409, e.message);
      throw e;
    });
    const vif = await api.allocatePort({
      instanceId: inst.uuid, projectId: inst.projectId, userId: inst.userId, hostname: inst.hostname,
      host: inst.host ?? '', availabilityZone: inst.availabilityZone ?? 'nova', requested, securityGroups: [],
    });
    const taskId = await ctx.db.tx(async (t) => {
      const actionId = await recordAction(t, { uuid: inst.uuid, action: 'attach_interface', requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
      const payload: InterfacePayload = { uuid: inst.uuid, op: 'attach', portId: vif.portId, vif, actionId };
      return ctx.tasks.enqueue(t, INTERFACE, payload, { resourceId: inst.uuid });
    });
    const failed = await awaitTask(ctx, taskId);
    if (failed) throw new ApiError(500, `Failed to attach network adapter device to ${inst.uuid}`);
    const fresh = ((await vifsOf(ctx, [inst.uuid])).get(inst.uuid) ?? []).find((v) => v.portId === vif.portId) ?? vif;
    return { interfaceAttachment: view(req, fresh) };
  });

  app.delete<{ Params: { server_id: string; port_id: string } }>(`${base}/:port_id`, async (req, reply: FastifyReply) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-attach-interfaces:delete', req.auth!, project(inst));
    checkLock(ctx, req, inst);
    checkState(inst, 'detach_interface', { vm: [VM.ACTIVE, VM.PAUSED, VM.STOPPED] });
    const portId = req.params.port_id;
    const vif = isUuid(portId) ? ((await vifsOf(ctx, [inst.uuid])).get(inst.uuid) ?? []).find((v) => v.portId === portId) : undefined;
    if (!vif) throw notFound(`Port ${portId} is not attached`);
    await ctx.db.tx(async (t) => {
      const actionId = await recordAction(t, { uuid: inst.uuid, action: 'detach_interface', requestId: req.id, userId: req.auth!.userId, projectId: req.auth!.projectId ?? null });
      const payload: InterfacePayload = { uuid: inst.uuid, op: 'detach', portId, actionId };
      await ctx.tasks.enqueue(t, INTERFACE, payload, { resourceId: inst.uuid });
    });
    return reply.code(202).send();
  });
}
