// POST /servers: validation as Nova's API and compute API do it (schema per microversion, key
// pair, availability zone, flavor, image status and sizes, networks, block device mappings,
// quotas), then ONE transaction that enforces the instance quota, inserts every instance (vm_state
// building, task_state scheduling), their metadata, tags and server group membership, the
// "create" instance action and one durable build task per instance.
import { randomInt } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { badRequest, forbidden } from '../../core/errors.ts';
import { isUuid, nowIso, uuid as newUuid } from '../../core/ids.ts';
import { mv } from '../microversion.ts';
import { allowed, isAdmin, parseBoolean, resourceLinks } from '../common.ts';
import { flavorAccessibleBy, flavorToSpec, getFlavor } from '../flavors.ts';
import { getKeypair } from '../keypairs.ts';
import { enforceInjectedFilesQuota, enforceMetadataQuota, enforceServerQuota } from '../quotas.ts';
import { addServerGroupMember, getServerGroup } from '../server_groups.ts';
import { listNodes } from '../hypervisors.ts';
import { nextInstanceIds, setMetadata, setTags, VM, type InstanceFlavor } from './db.ts';
import { recordAction } from './instance_actions.ts';
import { canonicalIpv4, canonicalIpv6 } from './common.ts';
import { createSchema } from './schemas.ts';
import { BUILD } from './tasks.ts';
import { validateBody } from './validate.ts';
import { requestedFromApi } from './network.ts';
import { insertPlannedBdms, planBlockDevices } from './bdm_plan.ts';

const PASSWORD_SYMBOLS = ['23456789', 'ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz'];

/** nova.utils.generate_password: one symbol of each group, then random ones, shuffled. */
export function generatePassword(length = 12): string {
  const all = PASSWORD_SYMBOLS.join('');
  const chars = PASSWORD_SYMBOLS.map((g) => g[randomInt(g.length)]);
  while (chars.length < length) chars.push(all[randomInt(all.length)]);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join('');
}

/** nova.utils.sanitize_hostname. */
export function sanitizeHostname(name: string): string {
  let h = [...name].filter((c) => c.charCodeAt(0) <= 0xff).join('').slice(0, 63);
  h = h.replace(/[ _.]/g, '-').replace(/[^\p{L}\p{N}_.-]+/gu, '').toLowerCase().replace(/^[.-]+|[.-]+$/g, '');
  return h.slice(0, 63);
}

/** Nova's reservation ids: "r-" and 8 random characters. */
function reservationId(): string {
  const a = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = 'r-';
  for (let i = 0; i < 8; i++) s += a[randomInt(a.length)];
  return s;
}

/** common.get_id_from_href: the last path segment of a URL, or the value itself. */
export function idFromHref(href: string): string {
  try {
    const u = new URL(href);
    return u.pathname.split('/').filter(Boolean).pop() ?? href;
  } catch {
    return href.split('/').filter(Boolean).pop() ?? href;
  }
}

function parseIntParam(v: unknown): number {
  return typeof v === 'number' ? v : Number(String(v));
}

export async function createServers(ctx: Context, req: FastifyRequest, reply: FastifyReply) {
  const v = mv(req);
  const auth = req.auth!;
  let body = req.body as any;
  // Accept an image URL (http://.../images/<uuid>) as well as its uuid, as the v2 API did.
  if (body?.server && typeof body.server.imageRef === 'string' && /^https?:\/\//.test(body.server.imageRef)) {
    body = { ...body, server: { ...body.server, imageRef: idFromHref(body.server.imageRef) } };
  }
  validateBody(createSchema(req), body);
  const s = body.server as Record<string, any>;
  const projectId = auth.projectId ?? '';
  const userId = auth.userId;
  const admin = isAdmin(ctx, req);

  const name: string = s.name;
  const description: string | null = v.atLeast('2.19') ? (s.description ?? null) : name;
  const password: string = s.adminPass ?? generatePassword();
  const minCount = s.min_count !== undefined ? parseIntParam(s.min_count) : 1;
  const maxCount = s.max_count !== undefined ? parseIntParam(s.max_count) : minCount;
  if (minCount > maxCount) throw badRequest('min_count must be <= max_count');

  let az: string | null = s.availability_zone ?? null;
  const target = { project_id: projectId, user_id: userId, availability_zone: az };
  ctx.policy.authorize('os_compute_api:servers:create', auth, target);
  const trustedCerts: string[] | null = s.trusted_image_certificates ?? null;
  if (trustedCerts?.length) ctx.policy.authorize('os_compute_api:servers:create:trusted_certs', auth, target);

  // availability_zone "az", "az:host", "az::node" or "az:host:node" (the last three admin only).
  let forcedHost: string | null = null, forcedNode: string | null = null;
  if (az && az.includes(':')) {
    const parts = az.split(':');
    if (parts.length === 2) [az, forcedHost] = parts;
    else if (parts.length === 3) [az, forcedHost, forcedNode] = parts;
    else throw badRequest('Invalid input received: Unable to parse availability_zone');
    forcedHost = forcedHost || null;
    forcedNode = forcedNode || null;
    az = az || null;
  }
  if (forcedHost || forcedNode) ctx.policy.authorize('os_compute_api:servers:create:forced_host', auth, target);

  let requestedHost: string | null = null, requestedNode: string | null = null;
  if (v.atLeast('2.74') && (s.host || s.hypervisor_hostname)) {
    ctx.policy.authorize('compute:servers:create:requested_destination', auth, target);
    if (forcedHost || forcedNode) {
      throw badRequest('One mechanism with host and/or hypervisor_hostname and another mechanism with zone:host:node are mutually exclusive.');
    }
    requestedHost = s.host ?? null;
    requestedNode = s.hypervisor_hostname ?? null;
    const nodes = await listNodes(ctx.db);
    if (requestedHost && !nodes.some((n) => n.host === requestedHost)) throw badRequest(`Compute host ${requestedHost} could not be found.`);
    if (requestedNode && !nodes.some((n) => n.hypervisorHostname === requestedNode && (!requestedHost || n.host === requestedHost))) {
      throw badRequest(requestedHost
        ? `Compute host ${requestedHost} with hypervisor_hostname ${requestedNode} could not be found.`
        : `Compute host ${requestedNode} could not be found.`);
    }
  }

  // Block device mappings: boot from an image to a local disk, or volumes through Cinder.
  let imageRef: string = s.imageRef ?? '';
  const plan = await planBlockDevices(ctx, req, s, maxCount, target);
  if (plan.imageRef) imageRef = plan.imageRef;
  const bootVolume = plan.volumes.find((b) => b.bootIndex === 0);
  if (!imageRef && !bootVolume) {
    if (plan.volumes.length) throw badRequest('Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.');
    throw badRequest('Missing imageRef attribute');
  }

  // Networks: without a network service there is nothing a uuid or port can name.
  const networks = s.networks;
  if (Array.isArray(networks)) {
    const ports: string[] = [];
    for (const n of networks) {
      if (n.port) {
        if (ports.includes(n.port)) throw badRequest(`Port ID '${n.port}' was specified twice: you cannot attach a port multiple times.`);
        if (n.fixed_ip !== undefined && n.fixed_ip !== null) throw badRequest(`Specified Fixed IP '${n.fixed_ip}' cannot be used with port '${n.port}': the two cannot be specified together.`);
        ports.push(n.port);
      } else {
        if (!('uuid' in n)) throw badRequest("Bad network format: missing 'uuid'");
        if (!isUuid(n.uuid)) throw badRequest(`Bad networks format: network uuid is not in proper format (${n.uuid})`);
      }
    }
    if (networks.length) ctx.policy.authorize('os_compute_api:servers:create:attach_network', auth, target);
  }

  // Flavor.
  const flavorId = idFromHref(String(s.flavorRef));
  const flavor = await getFlavor(ctx.db, flavorId);
  if (!flavor || flavor.disabled || !(await flavorAccessibleBy(ctx.db, flavor, projectId, admin))) throw badRequest(`Flavor ${flavorId} could not be found.`);

  // Image (of a volume-backed server: the image its boot volume is made from, if any).
  const metaImageId = imageRef || (bootVolume?.sourceType === 'image' ? bootVolume.imageId! : '');
  const img = metaImageId && ctx.services.image ? await ctx.services.image.get(metaImageId, auth) : null;
  if (metaImageId && !img) throw badRequest('Can not find requested image');
  if (img && img.status !== 'active') throw badRequest(`Image ${metaImageId} is not active.`);
  if (img && flavor.memoryMb < (img.minRam ?? 0)) throw badRequest("Flavor's memory is too small for requested image.");
  const rootBytes = flavor.rootGb * 1024 ** 3;
  if (bootVolume) {
    // The root disk is the volume: the flavor's disk size does not matter, the volume's does.
    if (img && bootVolume.sourceType === 'image' && bootVolume.volumeSize !== null) {
      const volBytes = bootVolume.volumeSize * 1024 ** 3;
      if ((img.minDisk ?? 0) * 1024 ** 3 > volBytes) {
        throw badRequest(`Volume is smaller than the minimum size specified in image metadata. Volume size is ${volBytes} bytes, minimum size is ${(img.minDisk ?? 0) * 1024 ** 3} bytes.`);
      }
      if ((img.size ?? 0) > volBytes) throw badRequest(`Size of specified image ${img.size} is larger than volume size ${volBytes}.`);
    }
  } else if (!img) {
    throw badRequest('Can not find requested image');
  } else if (rootBytes) {
    if ((img.size ?? 0) > rootBytes) throw badRequest(`Flavor's disk is too small for requested image. Flavor disk is ${rootBytes} bytes, image is ${img.size} bytes.`);
    if ((img.minDisk ?? 0) * 1024 ** 3 > rootBytes) throw badRequest(`Flavor's disk is too small for requested image. Flavor disk is ${rootBytes} bytes, minimum image disk is ${img.minDisk * 1024 ** 3} bytes.`);
  } else if (!allowed(ctx, req, 'os_compute_api:servers:create:zero_disk_flavor', target)) {
    throw forbidden('Only volume-backed servers are allowed for flavors with zero disk.');
  }

  // Now the things that name other resources.
  const securityGroups: string[] = [...new Set(((s.security_groups ?? []) as { name?: string }[]).map((g) => g.name).filter((n): n is string => !!n))];
  const netApi = ctx.services.network;
  if (netApi) {
    if (Array.isArray(networks) && maxCount > 1 && networks.some((n: any) => n.port)) {
      throw badRequest('Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.');
    }
    // Nova's validate_networks: networks, ports, fixed IPs, security groups, port quota for max_count.
    await netApi.validateNetworks(auth, networks === undefined ? [] : requestedFromApi(networks), securityGroups, maxCount);
  } else {
    if (Array.isArray(networks)) {
      for (const n of networks) {
        if (n.port) throw badRequest(`Port id ${n.port} could not be found.`);
        throw badRequest(`Network ${n.uuid} could not be found.`);
      }
    }
    // Security groups live in the network service: without it, only each project's "default" does.
    for (const g of securityGroups) if (g !== 'default') throw badRequest(`Security group ${g} not found.`);
  }
  let keyData: string | null = null;
  if (s.key_name !== undefined) {
    const kp = await getKeypair(ctx.db, userId, s.key_name);
    if (!kp) throw badRequest('Invalid key_name provided.');
    keyData = kp.publicKey;
  }
  // The zones of enabled compute services (get_availability_zones(get_only_available=True)).
  if (az && !forcedHost && !forcedNode && !(await listNodes(ctx.db)).some((n) => n.status === 'enabled' && n.availabilityZone === az)) {
    throw badRequest('The requested availability zone is not available');
  }
  const metadata: Record<string, string> = s.metadata ?? {};
  await enforceMetadataQuota(ctx.db, projectId, Object.keys(metadata).length);
  if (Array.isArray(s.personality) && s.personality.length) await enforceInjectedFilesQuota(ctx.db, projectId, s.personality);

  const hints: Record<string, unknown> = body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'] ?? {};
  const groupId = Array.isArray(hints.group) ? hints.group[0] : (hints.group as string | undefined);
  if (groupId) {
    const g = await getServerGroup(ctx.db, groupId);
    if (!g) throw badRequest(`Instance group ${groupId} could not be found.`);
  }
  const configDrive = s.config_drive !== undefined && parseBoolean(s.config_drive, 'config_drive') ? 'True' : '';
  const tags: string[] = v.atLeast('2.52') ? (s.tags ?? []) : [];

  const spec: InstanceFlavor = { ...flavorToSpec(flavor), internalId: flavor.internalId, rxtxFactor: flavor.rxtxFactor, isPublic: flavor.isPublic, description: flavor.description };
  const sysmeta: Record<string, string> = {};
  if (img) {
    for (const [k, val] of Object.entries(img.properties ?? {})) sysmeta[`image_${k}`] = String(val);
    sysmeta.image_base_image_ref = imageRef;
    sysmeta.image_min_ram = String(img.minRam ?? 0);
    sysmeta.image_min_disk = String(img.minDisk ?? 0);
    if (img.diskFormat) sysmeta.image_disk_format = img.diskFormat;
    if (img.containerFormat) sysmeta.image_container_format = img.containerFormat;
  }
  if (forcedHost) sysmeta.forced_host = forcedHost;
  if (forcedNode) sysmeta.forced_node = forcedNode;
  if (requestedHost) sysmeta.requested_host = requestedHost;
  if (requestedNode) sysmeta.requested_node = requestedNode;

  const resv = reservationId();
  const created = await ctx.db.tx(async (t) => {
    const count = await enforceServerQuota(t, projectId, userId,
      { instances: maxCount, cores: flavor.vcpus * maxCount, ram: flavor.memoryMb * maxCount }, { minCount });
    const firstId = await nextInstanceIds(t);
    const now = nowIso();
    const uuids: string[] = [];
    for (let k = 0; k < count; k++) {
      const uuid = newUuid();
      uuids.push(uuid);
      const displayName = count > 1 ? `${name}-${k + 1}` : name;
      let hostname = sanitizeHostname(name);
      hostname = !hostname ? `Server-${uuid}` : count > 1 ? `${hostname}-${k + 1}` : hostname;
      await t.run(`INSERT INTO instances (uuid, id, project_id, user_id, display_name, display_description, hostname,
        vcpus, memory_mb, root_gb, ephemeral_gb, swap_mb, flavor_id, flavor, image_ref, availability_zone, requested_availability_zone,
        vm_state, task_state, power_state, key_name, key_data, user_data, config_drive, access_ip_v4, access_ip_v6, auto_disk_config,
        reservation_id, launch_index, progress, security_groups, requested_networks, scheduler_hints, trusted_certs,
        block_device_mapping, system_metadata, created_at, updated_at, deleted)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`, [
        uuid, firstId + k, projectId, userId, displayName, description, hostname,
        flavor.vcpus, flavor.memoryMb, flavor.rootGb, flavor.ephemeralGb, flavor.swapMb, flavor.id, JSON.stringify(spec), imageRef,
        az, az, VM.BUILDING, 'scheduling', 0, s.key_name ?? null, keyData, s.user_data ?? null, configDrive,
        s.accessIPv4 !== undefined ? canonicalIpv4(s.accessIPv4) : null, s.accessIPv6 !== undefined ? canonicalIpv6(s.accessIPv6) : null, s['OS-DCF:diskConfig'] === 'AUTO' ? 1 : 0,
        resv, k, 0, JSON.stringify(securityGroups.length ? securityGroups : ['default']), JSON.stringify(networks ?? null),
        JSON.stringify(hints), trustedCerts ? JSON.stringify(trustedCerts) : null, JSON.stringify(plan.raw), JSON.stringify(sysmeta), now, now]);
      await insertPlannedBdms(t, uuid, plan.volumes, { ephemeralGb: flavor.ephemeralGb, swapMb: flavor.swapMb });
      await setMetadata(t, uuid, metadata);
      if (tags.length) await setTags(t, uuid, tags);
      if (groupId) await addServerGroupMember(t, groupId, uuid);
      const actionId = await recordAction(t, { uuid, action: 'create', requestId: req.id, userId, projectId });
      await ctx.tasks.enqueue(t, BUILD, { uuid, actionId }, { resourceId: uuid });
    }
    return uuids;
  });

  reply.code(202);
  if (s.return_reservation_id !== undefined && parseBoolean(s.return_reservation_id, 'return_reservation_id')) {
    return { reservation_id: resv };
  }
  const links = resourceLinks(ctx, req, 'servers', created[0]);
  reply.header('Location', links[0].href);
  return {
    server: {
      id: created[0],
      links,
      'OS-DCF:diskConfig': s['OS-DCF:diskConfig'] === 'AUTO' ? 'AUTO' : 'MANUAL',
      security_groups: s.security_groups ?? [{ name: 'default' }],
      adminPass: password,
    },
  };
}

