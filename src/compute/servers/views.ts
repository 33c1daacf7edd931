// Response bodies of the servers API, as Nova's views/servers.py builds them for each
// microversion: the status from vm_state/task_state, the OS-EXT-* attributes shown by policy,
// the flavor as a link before 2.47 and embedded after, hostId, faults, and so on.
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import type { Queryable } from '../../core/db/index.ts';
import { mv } from '../microversion.ts';
import { allowed, isAdmin, novaTime, resourceLinks } from '../common.ts';
import { serverFlavorView } from '../flavors.ts';
import { listNodes } from '../hypervisors.ts';
import { getInstanceGroups } from '../server_groups.ts';
import { faultsOf, instanceName, metadataOf, tagsOf, type Fault, type Instance } from './db.ts';
import type { InstanceVif, SecurityGroupRef } from '../../network/api.ts';
import { addressesOf, securityGroupsOf, vifsOf } from './network.ts';
import { volumesOf, type Bdm } from './bdm.ts';

// nova/api/openstack/common.py _STATE_MAP
const STATE_MAP: Record<string, Record<string, string>> = {
  active: {
    default: 'ACTIVE', rebooting: 'REBOOT', reboot_pending: 'REBOOT', reboot_started: 'REBOOT',
    rebooting_hard: 'HARD_REBOOT', reboot_pending_hard: 'HARD_REBOOT', reboot_started_hard: 'HARD_REBOOT',
    updating_password: 'PASSWORD', rebuilding: 'REBUILD', rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD', migrating: 'MIGRATING', resize_prep: 'RESIZE', resize_migrating: 'RESIZE',
    resize_migrated: 'RESIZE', resize_finish: 'RESIZE',
  },
  building: { default: 'BUILD' },
  stopped: {
    default: 'SHUTOFF', resize_prep: 'RESIZE', resize_migrating: 'RESIZE', resize_migrated: 'RESIZE',
    resize_finish: 'RESIZE', rebuilding: 'REBUILD', rebuild_block_device_mapping: 'REBUILD', rebuild_spawning: 'REBUILD',
  },
  resized: { default: 'VERIFY_RESIZE', resize_reverting: 'REVERT_RESIZE' },
  paused: { default: 'PAUSED', migrating: 'MIGRATING' },
  suspended: { default: 'SUSPENDED' },
  rescued: { default: 'RESCUE' },
  error: { default: 'ERROR', rebuilding: 'REBUILD', rebuild_block_device_mapping: 'REBUILD', rebuild_spawning: 'REBUILD' },
  deleted: { default: 'DELETED' },
  'soft-delete': { default: 'SOFT_DELETED' },
  shelved: { default: 'SHELVED' },
  shelved_offloaded: { default: 'SHELVED_OFFLOADED' },
};

export function statusOf(i: Pick<Instance, 'vmState' | 'taskState' | 'deleted'>): string {
  if (i.deleted) return 'DELETED';
  const m = STATE_MAP[i.vmState];
  if (!m) return 'UNKNOWN';
  return (i.taskState && m[i.taskState]) || m.default;
}

/** The vm_states and task_states a list of statuses stands for (task_and_vm_state_from_status). */
export function statesFromStatuses(statuses: string[]): { vmStates: string[]; taskStates: (string | null)[]; anyTask: boolean } {
  const wanted = new Set(statuses.map((s) => s.toLowerCase()));
  const vm = new Set<string>();
  const task = new Set<string>();
  for (const [state, map] of Object.entries(STATE_MAP)) {
    for (const [t, st] of Object.entries(map)) {
      if (wanted.has(st.toLowerCase())) { vm.add(state); task.add(t); }
    }
  }
  const anyTask = task.has('default');
  task.delete('default');
  return { vmStates: [...vm].sort(), taskStates: [...task].sort(), anyTask };
}

const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING']);
const FAULT_STATUSES = new Set(['ERROR', 'DELETED']);

/** nova.utils.generate_hostid: sha224 of project id + host, "" without a host. */
export function hostId(host: string | null, projectId: string): string {
  if (!host) return '';
  return createHash('sha224').update(projectId + host).digest('hex');
}

/** Per-request memo of what every server of a page shares: microversion flags, policy answers, hostIds. */
interface ViewCtx {
  v: ReturnType<typeof mv>;
  flags: Record<string, boolean>;
  admin: boolean;
  rules: Map<string, boolean>;
  hostIds: Map<string, string>;
  /** self and bookmark hrefs of servers, without the id. */
  selfPrefix: string;
  bookmarkPrefix: string;
}
const viewCtxs = new WeakMap<FastifyRequest, ViewCtx>();
const FLAG_VERSIONS = ['2.3', '2.9', '2.16', '2.19', '2.26', '2.47', '2.63', '2.71', '2.73'];

function viewCtx(ctx: Context, req: FastifyRequest): ViewCtx {
  let c = viewCtxs.get(req);
  if (!c) {
    const v = mv(req);
    const flags: Record<string, boolean> = {};
    for (const f of FLAG_VERSIONS) flags[f] = v.atLeast(f);
    const probe = resourceLinks(ctx, req, 'servers', '_');
    c = {
      v, flags, admin: isAdmin(ctx, req), rules: new Map(), hostIds: new Map(),
      selfPrefix: probe[0].href.slice(0, -1), bookmarkPrefix: probe[1].href.slice(0, -1),
    };
    viewCtxs.set(req, c);
  }
  return c;
}

function can(ctx: Context, req: FastifyRequest, vc: ViewCtx, rule: string, projectId: string): boolean {
  const key = `${rule}\0${projectId}`;
  let r = vc.rules.get(key);
  if (r === undefined) { r = allowed(ctx, req, rule, { project_id: projectId }); vc.rules.set(key, r); }
  return r;
}

function cachedHostId(vc: ViewCtx, host: string | null, projectId: string): string {
  if (!host) return '';
  const key = `${projectId}\0${host}`;
  let h = vc.hostIds.get(key);
  if (h === undefined) { h = hostId(host, projectId); vc.hostIds.set(key, h); }
  return h;
}

/** Nova's utils.isotime: seconds precision with a Z. */
export function isoTime(iso: string | null): string | null {
  if (!iso) return null;
  return iso.replace(/\.\d+Z$/, 'Z');
}

function bookmark(ctx: Context, req: FastifyRequest, collection: string, id: string) {
  return resourceLinks(ctx, req, collection, id).find((l) => l.rel === 'bookmark')!.href;
}

/** Everything the detailed view needs besides the rows, loaded once for a page of servers. */
export interface ViewExtras {
  metadata: Map<string, Record<string, string>>;
  tags: Map<string, string[]>;
  faults: Map<string, Fault>;
  hostStatus?: Map<string, string>;
  groups?: Map<string, string[]>;
  /** Ports of each instance (one NetworkApi call for the page). */
  vifs?: Map<string, InstanceVif[]>;
  securityGroups?: Map<string, SecurityGroupRef[]>;
  volumes?: Map<string, Bdm[]>;
}

/** Nova's host_status: UP, DOWN, MAINTENANCE (service disabled) or UNKNOWN; "" without a host. */
async function hostStatuses(q: Queryable, instances: Instance[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!instances.some((i) => i.host)) {
    for (const i of instances) out.set(i.uuid, '');
    return out;
  }
  const byHost = new Map<string, string>();
  for (const n of await listNodes(q)) {
    byHost.set(n.host, n.state === 'down' ? 'DOWN' : n.status === 'disabled' ? 'MAINTENANCE' : 'UP');
  }
  for (const i of instances) out.set(i.uuid, i.host ? (byHost.get(i.host) ?? 'UNKNOWN') : '');
  return out;
}

export async function loadExtras(ctx: Context, req: FastifyRequest, instances: Instance[], opts: { groups?: boolean } = {}): Promise<ViewExtras> {
  const uuids = instances.map((i) => i.uuid);
  const v = mv(req);
  const extras: ViewExtras = {
    metadata: await metadataOf(ctx.db, uuids),
    tags: v.atLeast('2.26') ? await tagsOf(ctx.db, uuids) : new Map(),
    faults: instances.some((i) => i.deleted || i.vmState === 'error') ? await faultsOf(ctx.db, uuids.filter((_, k) => instances[k].deleted || instances[k].vmState === 'error')) : new Map(),
  };
  if (v.atLeast('2.16') && instances.length && (allowed(ctx, req, 'os_compute_api:servers:show:host_status', { project_id: instances[0].projectId })
    || allowed(ctx, req, 'os_compute_api:servers:show:host_status:unknown-only', { project_id: instances[0].projectId }))) {
    extras.hostStatus = await hostStatuses(ctx.db, instances);
  }
  // Networking and volumes in bulk: one call per page whatever its size (no N+1).
  const live = instances.filter((i) => !i.deleted).map((i) => i.uuid);
  const [vifs, groups, volumes] = await Promise.all([vifsOf(ctx, live), securityGroupsOf(ctx, live), volumesOf(ctx.db, live)]);
  extras.vifs = vifs;
  extras.securityGroups = groups;
  extras.volumes = volumes;
  if (opts.groups && v.atLeast('2.71')) {
    extras.groups = new Map();
    for (const i of instances) extras.groups.set(i.uuid, await getInstanceGroups(ctx.db, i.uuid));
  }
  return extras;
}

export interface ShowOptions {
  /** All the optional blocks (Nova's show/detail); false for the pre-2.75 update and rebuild answers. */
  full: boolean;
  showServerGroups?: boolean;
  /** Rebuild adds user_data itself at 2.57+. */
  showUserData?: boolean;
  showKeypair?: boolean;
}

export function serverView(ctx: Context, req: FastifyRequest, i: Instance, extras: ViewExtras, o: ShowOptions): Record<string, unknown> {
  const vc = viewCtx(ctx, req);
  const f = vc.flags;
  const status = statusOf(i);
  const links = [{ rel: 'self', href: vc.selfPrefix + i.uuid }, { rel: 'bookmark', href: vc.bookmarkPrefix + i.uuid }];
  const s: Record<string, unknown> = {
    accessIPv4: i.accessIpV4 ?? '',
    accessIPv6: i.accessIpV6 ?? '',
    // Nova hides addresses while the server is building.
    addresses: i.vmState === 'building' ? {} : addressesOf(extras.vifs?.get(i.uuid)),
    created: isoTime(i.createdAt),
    flavor: flavorField(ctx, req, i, f['2.47'] && can(ctx, req, vc, 'os_compute_api:servers:show:flavor-extra-specs', i.projectId)),
    hostId: cachedHostId(vc, i.host, i.projectId),
    id: i.uuid,
    image: i.imageRef ? { id: i.imageRef, links: [{ rel: 'bookmark', href: `${vc.bookmarkPrefix.slice(0, -'servers/'.length)}images/${i.imageRef}` }] } : '',
    links,
    metadata: extras.metadata.get(i.uuid) ?? {},
    name: i.displayName,
    status,
    tenant_id: i.projectId,
    user_id: i.userId,
    updated: isoTime(i.updatedAt),
    'OS-DCF:diskConfig': i.autoDiskConfig ? 'AUTO' : 'MANUAL',
  };
  if (FAULT_STATUSES.has(status)) {
    const fl = extras.faults.get(i.uuid);
    if (fl) {
      const fault: Record<string, unknown> = { code: fl.code, created: isoTime(fl.createdAt), message: fl.message };
      if (fl.details && (vc.admin || fl.code !== 500)) fault.details = fl.details;
      s.fault = fault;
    }
  }
  if (PROGRESS_STATUSES.has(status)) s.progress = i.progress;
  if (o.full) {
    s['OS-EXT-AZ:availability_zone'] = (i.host ? i.availabilityZone : i.requestedAvailabilityZone ?? i.availabilityZone) ?? '';
    s.config_drive = i.configDrive;
  }
  if (o.full || o.showKeypair) s.key_name = i.keyName;
  if (o.full) {
    s['OS-SRV-USG:launched_at'] = novaTime(i.launchedAt);
    s['OS-SRV-USG:terminated_at'] = novaTime(i.terminatedAt);
    if (can(ctx, req, vc, 'os_compute_api:os-extended-server-attributes', i.projectId)) {
      s['OS-EXT-SRV-ATTR:host'] = i.host;
      s['OS-EXT-SRV-ATTR:instance_name'] = instanceName(i.id);
      s['OS-EXT-SRV-ATTR:hypervisor_hostname'] = i.node;
      if (f['2.3']) {
        s['OS-EXT-SRV-ATTR:hostname'] = i.hostname;
        s['OS-EXT-SRV-ATTR:kernel_id'] = '';
        s['OS-EXT-SRV-ATTR:launch_index'] = i.launchIndex;
        s['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
        s['OS-EXT-SRV-ATTR:reservation_id'] = i.reservationId;
        s['OS-EXT-SRV-ATTR:root_device_name'] = i.launchedAt ? '/dev/sda' : null;
        if (o.showUserData !== false) s['OS-EXT-SRV-ATTR:user_data'] = i.userData;
      }
    }
    s['OS-EXT-STS:task_state'] = i.taskState;
    s['OS-EXT-STS:vm_state'] = i.deleted ? 'deleted' : i.vmState;
    s['OS-EXT-STS:power_state'] = i.powerState;
    s['os-extended-volumes:volumes_attached'] = (extras.volumes?.get(i.uuid) ?? []).filter((b) => b.volumeId).map((b) => (f['2.3']
      ? { id: b.volumeId, delete_on_termination: b.deleteOnTermination } : { id: b.volumeId }));
  }
  // Only servers with ports in some security group show the key (Nova's _add_security_grps).
  const sgs = extras.securityGroups?.get(i.uuid);
  if (o.full && sgs?.length) s.security_groups = sgs.map((g) => ({ name: g.name }));
  if (f['2.9']) s.locked = !!i.lockedBy;
  if (f['2.16'] && o.full && extras.hostStatus) {
    const hs = extras.hostStatus.get(i.uuid) ?? '';
    if (can(ctx, req, vc, 'os_compute_api:servers:show:host_status', i.projectId) || hs === 'UNKNOWN') s.host_status = hs;
  }
  if (f['2.19']) s.description = i.displayDescription;
  if (f['2.26']) s.tags = extras.tags.get(i.uuid) ?? [];
  if (f['2.63']) s.trusted_image_certificates = i.trustedCerts;
  if (o.showServerGroups && f['2.71']) s.server_groups = extras.groups?.get(i.uuid) ?? [];
  if (f['2.73']) s.locked_reason = i.lockedReason;
  return s;
}

function flavorField(ctx: Context, req: FastifyRequest, i: Instance, extraSpecs: boolean) {
  if (!i.flavor) return {};
  if (mv(req).atLeast('2.47')) return serverFlavorView(i.flavor, extraSpecs);
  return { id: String(i.flavor.id), links: [{ rel: 'bookmark', href: bookmark(ctx, req, 'flavors', String(i.flavor.id)) }] };
}

export function basicView(ctx: Context, req: FastifyRequest, i: Instance) {
  return { id: i.uuid, links: resourceLinks(ctx, req, 'servers', i.uuid), name: i.displayName };
}
