// The servers' sub-resources: metadata, tags (2.26), ips, diagnostics, os-server-password,
// topology (2.78), server migrations (live migrations in progress) and os-server-external-events.
// os-interface and os-volume_attachments are in interfaces.ts and volume_attachments.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { badRequest, conflict, notFound } from '../../core/errors.ts';
import { isUuid } from '../../core/ids.ts';
import { PowerState } from '../../core/virt.ts';
import { mv } from '../microversion.ts';
import { computeBase } from '../common.ts';
import { enforceMetadataQuota } from '../quotas.ts';
import { getInstance, metadataOf, setMetadata, setTags, tagsOf, updateInstance, VM, type Instance } from './db.ts';
import { basicAddresses, vifsOf } from './network.ts';
import { checkHost, checkLock, checkState, findServer, normalizeUuid } from './common.ts';
import * as S from './schemas.ts';
import { validateBody, type Schema } from './validate.ts';

const project = (i: Instance) => ({ project_id: i.projectId });

/** Versioned routes answer 404 below their microversion, as Nova's router does. */
function since(req: FastifyRequest, version: string) {
  if (mv(req).below(version)) throw notFound('The resource could not be found.');
}

const METADATA_STATES = [VM.ACTIVE, VM.PAUSED, VM.SUSPENDED, VM.STOPPED];

async function writeMetadata(ctx: Context, req: FastifyRequest, inst: Instance, md: Record<string, string>, replace: boolean, action: string) {
  checkLock(ctx, req, inst);
  checkState(inst, action, { vm: METADATA_STATES, mustHaveLaunched: false });
  return ctx.db.tx(async (t) => {
    const cur = (await metadataOf(t, [inst.uuid])).get(inst.uuid)!;
    const next = replace ? { ...md } : { ...cur, ...md };
    await enforceMetadataQuota(t, inst.projectId, Object.keys(next).length);
    await setMetadata(t, inst.uuid, next);
    await updateInstance(t, inst.uuid, {});
    return next;
  });
}

async function metadataRoutes(app: FastifyInstance, ctx: Context) {
  const base = '/servers/:server_id/metadata';
  app.get<{ Params: { server_id: string } }>(base, async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:server-metadata:index', req.auth!, project(inst));
    return { metadata: (await metadataOf(ctx.db, [inst.uuid])).get(inst.uuid) };
  });
  app.post<{ Params: { server_id: string } }>(base, async (req) => {
    validateBody(S.metadataSetSchema, req.body);
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:server-metadata:create', req.auth!, project(inst));
    return { metadata: await writeMetadata(ctx, req, inst, (req.body as any).metadata, false, 'update metadata') };
  });
  app.put<{ Params: { server_id: string } }>(base, async (req) => {
    validateBody(S.metadataSetSchema, req.body);
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:server-metadata:update_all', req.auth!, project(inst));
    return { metadata: await writeMetadata(ctx, req, inst, (req.body as any).metadata, true, 'update metadata') };
  });
  app.get<{ Params: { server_id: string; key: string } }>(`${base}/:key`, async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:server-metadata:show', req.auth!, project(inst));
    const md = (await metadataOf(ctx.db, [inst.uuid])).get(inst.uuid)!;
    if (!Object.hasOwn(md, req.params.key)) throw notFound('Metadata item was not found');
    return { meta: { [req.params.key]: md[req.params.key] } };
  });
  app.put<{ Params: { server_id: string; key: string } }>(`${base}/:key`, async (req) => {
    validateBody(S.metadataItemSchema, req.body);
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:server-metadata:update', req.auth!, project(inst));
    const meta = (req.body as any).meta as Record<string, string>;
    if (!Object.hasOwn(meta, req.params.key)) throw badRequest('Request body and URI mismatch');
    await writeMetadata(ctx, req, inst, meta, false, 'update metadata');
    return { meta };
  });
  app.delete<{ Params: { server_id: string; key: string } }>(`${base}/:key`, async (req, reply) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:server-metadata:delete', req.auth!, project(inst));
    const md = (await metadataOf(ctx.db, [inst.uuid])).get(inst.uuid)!;
    if (!Object.hasOwn(md, req.params.key)) throw notFound('Metadata item was not found');
    checkLock(ctx, req, inst);
    checkState(inst, 'delete metadata', { vm: METADATA_STATES, mustHaveLaunched: false });
    await ctx.db.tx(async (t) => {
      await t.run('DELETE FROM instance_metadata WHERE instance_uuid = ? AND key = ?', [inst.uuid, req.params.key]);
      await updateInstance(t, inst.uuid, {});
    });
    return reply.code(204).send();
  });
}

const TAG_STATES = [VM.ACTIVE, VM.PAUSED, VM.SUSPENDED, VM.STOPPED];

async function tagRoutes(app: FastifyInstance, ctx: Context) {
  const base = '/servers/:server_id/tags';
  const tagState = (inst: Instance, action: string) => checkState(inst, action, { vm: TAG_STATES, task: null, mustHaveLaunched: false });
  app.get<{ Params: { server_id: string } }>(base, async (req) => {
    since(req, '2.26');
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-tags:index', req.auth!, project(inst));
    return { tags: (await tagsOf(ctx.db, [inst.uuid])).get(inst.uuid) };
  });
  app.put<{ Params: { server_id: string } }>(base, async (req) => {
    since(req, '2.26');
    validateBody(S.tagsSchema, req.body);
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-tags:update_all', req.auth!, project(inst));
    tagState(inst, 'update tags');
    const tags = [...new Set((req.body as any).tags as string[])];
    await ctx.db.tx(async (t) => {
      await setTags(t, inst.uuid, tags);
      await updateInstance(t, inst.uuid, {});
    });
    return { tags: (await tagsOf(ctx.db, [inst.uuid])).get(inst.uuid) };
  });
  app.delete<{ Params: { server_id: string } }>(base, async (req, reply) => {
    since(req, '2.26');
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-tags:delete_all', req.auth!, project(inst));
    tagState(inst, 'delete tags');
    await ctx.db.tx(async (t) => {
      await setTags(t, inst.uuid, []);
      await updateInstance(t, inst.uuid, {});
    });
    return reply.code(204).send();
  });
  app.get<{ Params: { server_id: string; tag: string } }>(`${base}/:tag`, async (req, reply) => {
    since(req, '2.26');
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-tags:show', req.auth!, project(inst));
    const has = await ctx.db.get('SELECT 1 AS x FROM instance_tags WHERE instance_uuid = ? AND tag = ?', [inst.uuid, req.params.tag]);
    if (!has) throw notFound(`Server ${inst.uuid} has no tag '${req.params.tag}'`);
    return reply.code(204).send();
  });
  app.put<{ Params: { server_id: string; tag: string } }>(`${base}/:tag`, async (req, reply) => {
    since(req, '2.26');
    if (req.body !== undefined && req.body !== null) validateBody({ type: 'null' } as Schema, req.body);
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-tags:update', req.auth!, project(inst));
    tagState(inst, 'update tag');
    const tag = req.params.tag;
    try {
      validateBody(S.tag, tag);
    } catch (e) {
      throw badRequest(`Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: ${(e as Error).message.replace(/^Invalid input for field\/attribute [^.]*\. Value: [^.]*\. /, '')}`);
    }
    const created = await ctx.db.tx(async (t) => {
      await t.lock(`instance-tags:${inst.uuid}`);
      const tags = (await tagsOf(t, [inst.uuid])).get(inst.uuid)!;
      if (tags.includes(tag)) return false;
      if (tags.length >= S.MAX_TAG_COUNT) throw badRequest(`The number of tags exceeded the per-server limit ${S.MAX_TAG_COUNT}`);
      await t.run('INSERT INTO instance_tags (instance_uuid, tag) VALUES (?, ?)', [inst.uuid, tag]);
      await updateInstance(t, inst.uuid, {});
      return true;
    });
    if (!created) return reply.code(204).send();
    const href = `${computeBase(ctx)}/v2.1/servers/${inst.uuid}/tags/${encodeURIComponent(tag)}`;
    return reply.code(201).header('Location', href).send();
  });
  app.delete<{ Params: { server_id: string; tag: string } }>(`${base}/:tag`, async (req, reply) => {
    since(req, '2.26');
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-tags:delete', req.auth!, project(inst));
    tagState(inst, 'delete tag');
    const r = await ctx.db.run('DELETE FROM instance_tags WHERE instance_uuid = ? AND tag = ?', [inst.uuid, req.params.tag]);
    if (!r.changes) throw notFound(`Instance ${inst.uuid} has no tag '${req.params.tag}'`);
    await updateInstance(ctx.db, inst.uuid, {});
    return reply.code(204).send();
  });
}

async function ipRoutes(app: FastifyInstance, ctx: Context) {
  app.get<{ Params: { server_id: string } }>('/servers/:server_id/ips', async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:ips:index', req.auth!, project(inst));
    return { addresses: basicAddresses((await vifsOf(ctx, [inst.uuid])).get(inst.uuid)) };
  });
  app.get<{ Params: { server_id: string; network: string } }>('/servers/:server_id/ips/:network', async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:ips:show', req.auth!, project(inst));
    const all = basicAddresses((await vifsOf(ctx, [inst.uuid])).get(inst.uuid));
    if (!Object.hasOwn(all, req.params.network)) throw notFound('Instance is not a member of specified network');
    return { [req.params.network]: all[req.params.network] };
  });
}

const POWER_NAMES: Record<number, string> = { 0: 'pending', 1: 'running', 3: 'paused', 4: 'shutdown', 6: 'crashed', 7: 'suspended' };

async function diagnosticsRoutes(app: FastifyInstance, ctx: Context) {
  app.get<{ Params: { server_id: string } }>('/servers/:server_id/diagnostics', async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-diagnostics', req.auth!, project(inst));
    checkHost(inst);
    const info = await ctx.driver.getInfo(inst.uuid);
    if (!info) throw conflict(`Instance ${inst.uuid} is not ready`);
    if (mv(req).atLeast('2.48')) {
      return {
        state: POWER_NAMES[info.powerState] ?? 'pending', driver: 'vmwareapi', hypervisor: 'esxi', hypervisor_os: 'esxi',
        uptime: info.powerState === PowerState.RUNNING && inst.launchedAt ? Math.max(0, Math.floor((Date.now() - Date.parse(inst.launchedAt)) / 1000)) : 0,
        config_drive: inst.configDrive === 'True', num_cpus: info.vcpus, num_nics: 0, num_disks: 1 + (inst.ephemeralGb ? 1 : 0) + (inst.swapMb ? 1 : 0),
        memory_details: { maximum: info.memoryMb, used: 0 }, cpu_details: [], nic_details: [], disk_details: [],
      };
    }
    // Before 2.48 the driver's own keys (the VMware driver reports the VM's summary).
    return { numCpu: info.vcpus, memorySizeMB: info.memoryMb, powerState: POWER_NAMES[info.powerState] ?? 'pending', host: info.host };
  });
}

async function passwordRoutes(app: FastifyInstance, ctx: Context) {
  app.get<{ Params: { server_id: string } }>('/servers/:server_id/os-server-password', async (req) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-password:show', req.auth!, project(inst));
    // Only a guest agent posts an (encrypted) password through the metadata service.
    return { password: inst.systemMetadata.password ?? '' };
  });
  app.delete<{ Params: { server_id: string } }>('/servers/:server_id/os-server-password', async (req, reply) => {
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:os-server-password:clear', req.auth!, project(inst));
    if (inst.systemMetadata.password) {
      const sm = { ...inst.systemMetadata };
      delete sm.password;
      await updateInstance(ctx.db, inst.uuid, { system_metadata: sm });
    }
    return reply.code(204).send();
  });
}

async function topologyRoutes(app: FastifyInstance, ctx: Context) {
  app.get<{ Params: { server_id: string } }>('/servers/:server_id/topology', async (req) => {
    since(req, '2.78');
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('compute:server:topology:index', req.auth!, project(inst));
    // vSphere VMs here carry no NUMA topology.
    return { nodes: [], pagesize_kb: null };
  });
}

async function migrationRoutes(app: FastifyInstance, ctx: Context) {
  app.get<{ Params: { server_id: string } }>('/servers/:server_id/migrations', async (req) => {
    since(req, '2.23');
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:servers:migrations:index', req.auth!, project(inst));
    return { migrations: [] };
  });
  app.get<{ Params: { server_id: string; id: string } }>('/servers/:server_id/migrations/:id', async (req) => {
    since(req, '2.23');
    const inst = await findServer(ctx, req, req.params.server_id);
    ctx.policy.authorize('os_compute_api:servers:migrations:show', req.auth!, project(inst));
    throw notFound(`Migration ${req.params.id} for instance ${inst.uuid} not found.`);
  });
}

const TAG_REQUIRED = new Set(['volume-extended', 'power-update', 'accelerator-request-bound']);

async function externalEventRoutes(app: FastifyInstance, ctx: Context) {
  app.post('/os-server-external-events', async (req, reply: FastifyReply) => {
    ctx.policy.authorize('os_compute_api:os-server-external-events:create', req.auth!, {});
    validateBody(S.externalEventsSchema(req), req.body);
    const events = (req.body as any).events as Record<string, any>[];
    let result = 200;
    const out: Record<string, unknown>[] = [];
    for (const e of events) {
      const ev: Record<string, unknown> = { ...e, status: e.status ?? 'completed' };
      out.push(ev);
      const inst = isUuid(e.server_uuid) ? await getInstance(ctx.db, normalizeUuid(e.server_uuid)) : null;
      if (!inst || inst.deleted) { Object.assign(ev, { status: 'failed', code: 404 }); result = 207; continue; }
      if (TAG_REQUIRED.has(e.name) && e.tag === undefined) { Object.assign(ev, { status: 'failed', code: 400 }); result = 207; continue; }
      if (!inst.host) { Object.assign(ev, { status: 'failed', code: 422 }); result = 207; continue; }
      Object.assign(ev, { status: 'completed', code: 200 });
      if (e.name === 'power-update' && inst.taskState === null) {
        // The hypervisor reports a power change made outside Nova (2.76).
        if (e.tag === 'POWER_OFF' && inst.vmState === VM.ACTIVE) {
          await updateInstance(ctx.db, inst.uuid, { vm_state: VM.STOPPED, power_state: PowerState.SHUTDOWN }, { expectTask: [null], expectVm: [VM.ACTIVE] });
        } else if (e.tag === 'POWER_ON' && inst.vmState === VM.STOPPED) {
          await updateInstance(ctx.db, inst.uuid, { vm_state: VM.ACTIVE, power_state: PowerState.RUNNING }, { expectTask: [null], expectVm: [VM.STOPPED] });
        }
      }
    }
    return reply.code(result).send({ events: out });
  });
}

export async function subresourceRoutes(app: FastifyInstance, ctx: Context) {
  await metadataRoutes(app, ctx);
  await tagRoutes(app, ctx);
  await ipRoutes(app, ctx);
  await diagnosticsRoutes(app, ctx);
  await passwordRoutes(app, ctx);
  await topologyRoutes(app, ctx);
  await migrationRoutes(app, ctx);
  await externalEventRoutes(app, ctx);
}

