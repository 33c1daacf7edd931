// Small Nova endpoints around the compute resources: the frozen /extensions list (Nova keeps it
// for old clients), the os-hosts API (until 2.43), os-instance_usage_audit_log (no audit ever
// runs here, as in Nova with instance_usage_audit off), and the removed APIs that Nova answers
// with 410 Gone (nova-network, cells v1, agents, certificates ...).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import { ApiError, badRequest, notFound, notImplemented } from '../core/errors.ts';
import { mv } from './microversion.ts';
import { checkKeys, isObject, queryOne, show } from './common.ts';
import { nodeUsage } from './hypervisors.ts';

/** Nova's extension aliases and names (the list is frozen since 2.1). */
const EXTENSIONS: [string, string][] = [
  ['NMN', 'Multinic'], ['OS-DCF', 'DiskConfig'], ['OS-EXT-AZ', 'ExtendedAvailabilityZone'],
  ['OS-EXT-IMG-SIZE', 'ImageSize'], ['OS-EXT-IPS', 'ExtendedIps'], ['OS-EXT-IPS-MAC', 'ExtendedIpsMac'],
  ['OS-EXT-SRV-ATTR', 'ExtendedServerAttributes'], ['OS-EXT-STS', 'ExtendedStatus'],
  ['OS-FLV-DISABLED', 'FlavorDisabled'], ['OS-FLV-EXT-DATA', 'FlavorExtraData'], ['OS-SCH-HNT', 'SchedulerHints'],
  ['OS-SRV-USG', 'ServerUsage'], ['os-access-ips', 'AccessIPs'], ['os-admin-actions', 'AdminActions'],
  ['os-admin-password', 'AdminPassword'], ['os-agents', 'Agents'], ['os-aggregates', 'Aggregates'],
  ['os-assisted-volume-snapshots', 'AssistedVolumeSnapshots'], ['os-attach-interfaces', 'AttachInterfaces'],
  ['os-availability-zone', 'AvailabilityZone'], ['os-baremetal-ext-status', 'BareMetalExtStatus'],
  ['os-baremetal-nodes', 'BareMetalNodes'], ['os-block-device-mapping', 'BlockDeviceMapping'],
  ['os-block-device-mapping-v2-boot', 'BlockDeviceMappingV2Boot'], ['os-cell-capacities', 'CellCapacities'],
  ['os-cells', 'Cells'], ['os-certificates', 'Certificates'], ['os-cloudpipe', 'Cloudpipe'],
  ['os-cloudpipe-update', 'CloudpipeUpdate'], ['os-config-drive', 'ConfigDrive'],
  ['os-console-auth-tokens', 'ConsoleAuthTokens'], ['os-console-output', 'ConsoleOutput'],
  ['os-consoles', 'Consoles'], ['os-create-backup', 'CreateBackup'], ['os-create-server-ext', 'Createserverext'],
  ['os-deferred-delete', 'DeferredDelete'], ['os-evacuate', 'Evacuate'],
  ['os-extended-evacuate-find-host', 'ExtendedEvacuateFindHost'],
  ['os-extended-floating-ips', 'ExtendedFloatingIps'], ['os-extended-hypervisors', 'ExtendedHypervisors'],
  ['os-extended-networks', 'ExtendedNetworks'], ['os-extended-quotas', 'ExtendedQuotas'],
  ['os-extended-rescue-with-image', 'ExtendedRescueWithImage'], ['os-extended-services', 'ExtendedServices'],
  ['os-extended-services-delete', 'ExtendedServicesDelete'], ['os-extended-status', 'ExtendedStatus'],
  ['os-extended-volumes', 'ExtendedVolumes'], ['os-fixed-ips', 'FixedIPs'], ['os-flavor-access', 'FlavorAccess'],
  ['os-flavor-extra-specs', 'FlavorExtraSpecs'], ['os-flavor-manage', 'FlavorManage'],
  ['os-flavor-rxtx', 'FlavorRxtx'], ['os-flavor-swap', 'FlavorSwap'], ['os-floating-ip-dns', 'FloatingIpDns'],
  ['os-floating-ip-pools', 'FloatingIpPools'], ['os-floating-ips', 'FloatingIps'],
  ['os-floating-ips-bulk', 'FloatingIpsBulk'], ['os-fping', 'Fping'],
  ['os-hide-server-addresses', 'HideServerAddresses'], ['os-hosts', 'Hosts'],
  ['os-hypervisor-status', 'HypervisorStatus'], ['os-hypervisors', 'Hypervisors'],
  ['os-instance-actions', 'InstanceActions'], ['os-instance_usage_audit_log', 'OSInstanceUsageAuditLog'],
  ['os-keypairs', 'Keypairs'], ['os-lock-server', 'LockServer'], ['os-migrate-server', 'MigrateServer'],
  ['os-migrations', 'Migrations'], ['os-multiple-create', 'MultipleCreate'], ['os-networks', 'Networks'],
  ['os-networks-associate', 'NetworkAssociationSupport'], ['os-pause-server', 'PauseServer'],
  ['os-personality', 'Personality'], ['os-preserve-ephemeral-rebuild', 'PreserveEphemeralOnRebuild'],
  ['os-quota-class-sets', 'QuotaClasses'], ['os-quota-sets', 'Quotas'], ['os-rescue', 'Rescue'],
  ['os-security-group-default-rules', 'SecurityGroupDefaultRules'], ['os-security-groups', 'SecurityGroups'],
  ['os-server-diagnostics', 'ServerDiagnostics'], ['os-server-external-events', 'ServerExternalEvents'],
  ['os-server-group-quotas', 'ServerGroupQuotas'], ['os-server-groups', 'ServerGroups'],
  ['os-server-list-multi-status', 'ServerListMultiStatus'], ['os-server-password', 'ServerPassword'],
  ['os-server-sort-keys', 'ServerSortKeys'], ['os-server-start-stop', 'ServerStartStop'],
  ['os-services', 'Services'], ['os-shelve', 'Shelve'], ['os-simple-tenant-usage', 'SimpleTenantUsage'],
  ['os-suspend-server', 'SuspendServer'], ['os-tenant-networks', 'OSTenantNetworks'],
  ['os-used-limits', 'UsedLimits'], ['os-used-limits-for-admin', 'UsedLimitsForAdmin'], ['os-user-data', 'UserData'],
  ['os-user-quotas', 'UserQuotas'], ['os-virtual-interfaces', 'VirtualInterfaces'],
  ['os-volume-attachment-update', 'VolumeAttachmentUpdate'], ['os-volumes', 'Volumes'],
];

function extension([alias, name]: [string, string]) {
  return { alias, description: `${name} support.`, links: [], name, namespace: 'http://docs.openstack.org/compute/ext/fake_xml', updated: '2014-12-03T00:00:00Z' };
}

/** Nova's HTTPGone for an API removed with nova-network, cells v1 and friends. */
const gone = () => new ApiError(410, 'This resource is no longer available. No forwarding address is given.');

const REMOVED: [string, string[]][] = [
  ['/os-agents', ['GET', 'POST']], ['/os-agents/:id', ['PUT', 'DELETE']],
  ['/os-cells', ['GET', 'POST']], ['/os-cells/detail', ['GET']], ['/os-cells/info', ['GET']], ['/os-cells/capacities', ['GET']],
  ['/os-cells/sync_instances', ['POST']], ['/os-cells/:id', ['GET', 'PUT', 'DELETE']], ['/os-cells/:id/capacities', ['GET']],
  ['/os-certificates', ['POST']], ['/os-certificates/:id', ['GET']],
  ['/os-cloudpipe', ['GET', 'POST']], ['/os-cloudpipe/:id', ['PUT']],
  ['/os-fixed-ips/:id', ['GET']], ['/os-fixed-ips/:id/action', ['POST']],
  ['/os-floating-ip-dns', ['GET']], ['/os-floating-ip-dns/:id', ['PUT', 'DELETE']],
  ['/os-floating-ip-dns/:domain_id/entries/:id', ['GET', 'PUT', 'DELETE']],
  ['/os-floating-ips-bulk', ['GET', 'POST']], ['/os-floating-ips-bulk/:id', ['GET', 'PUT']],
  ['/os-fping', ['GET']], ['/os-fping/:id', ['GET']],
  ['/os-security-group-default-rules', ['GET', 'POST']], ['/os-security-group-default-rules/:id', ['GET', 'DELETE']],
];

/** Nova's last_completed_audit_period for the default "month" unit: the previous calendar month. */
function auditPeriod(before: Date): [Date, Date] {
  const end = new Date(Date.UTC(before.getUTCFullYear(), before.getUTCMonth(), 1));
  const begin = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1));
  return [begin, end];
}
const pyStr = (d: Date) => d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');

async function auditLog(ctx: Context, before: Date) {
  const [begin, end] = auditPeriod(before);
  const hosts = (await ctx.db.all(`SELECT DISTINCT host FROM compute_services WHERE "binary" = 'nova-compute' AND deleted = 0 ORDER BY host`)).map((r) => r.host);
  return {
    period_beginning: pyStr(begin), period_ending: pyStr(end), num_hosts: hosts.length, num_hosts_done: 0, num_hosts_running: 0,
    num_hosts_not_run: hosts.length, hosts_not_run: hosts, total_instances: 0, total_errors: 0,
    overall_status: `${hosts.length === 0 ? 'ALL' : `0 of ${hosts.length}`} hosts done. 0 errors.`, log: {},
  };
}

function hostsGone(req: FastifyRequest) {
  if (mv(req).atLeast('2.43')) throw notFound('The resource could not be found.');
}

export async function miscRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/extensions', async (req) => {
    ctx.policy.authorize('os_compute_api:extensions', req.auth!, {});
    return { extensions: EXTENSIONS.map(extension) };
  });
  app.get<{ Params: { id: string } }>('/extensions/:id', async (req) => {
    ctx.policy.authorize('os_compute_api:extensions', req.auth!, {});
    const e = EXTENSIONS.find(([alias]) => alias === req.params.id);
    if (!e) throw notFound('The resource could not be found.');
    return { extension: extension(e) };
  });

  for (const [path, methods] of REMOVED) {
    for (const method of methods) app.route({ method: method as any, url: path, handler: async () => { throw gone(); } });
  }

  // --- os-hosts (deprecated proxy, removed at 2.43) ---------------------------------------------
  app.get('/os-hosts', async (req) => {
    hostsGone(req);
    ctx.policy.authorize('os_compute_api:os-hosts:list', req.auth!, {});
    const zone = queryOne(req, 'zone');
    const nodes = await ctx.db.all('SELECT host, availability_zone FROM compute_nodes WHERE deleted = 0 ORDER BY id');
    const zoneOf = new Map<string, string>();
    for (const n of nodes) if (!zoneOf.has(n.host)) zoneOf.set(n.host, n.availability_zone || 'nova');
    const services = await ctx.db.all('SELECT host, "binary", topic FROM compute_services WHERE deleted = 0 AND disabled = 0 ORDER BY id');
    const hosts = services.map((s) => ({
      host_name: s.host, service: s.topic, zone: s.binary === 'nova-compute' ? (zoneOf.get(s.host) ?? 'nova') : 'internal',
    })).filter((h) => !zone || h.zone === zone);
    return { hosts };
  });

  app.get<{ Params: { id: string } }>('/os-hosts/:id', async (req) => {
    hostsGone(req);
    ctx.policy.authorize('os_compute_api:os-hosts:show', req.auth!, {});
    const host = req.params.id;
    const node = await ctx.db.get('SELECT * FROM compute_nodes WHERE host = ? AND deleted = 0 ORDER BY id LIMIT 1', [host]);
    if (!node) throw notFound(`Compute host ${host} could not be found.`);
    const u = (await nodeUsage(ctx.db)).get(node.hypervisor_hostname);
    const instances = await ctx.db.all('SELECT project_id, vcpus, memory_mb, root_gb, ephemeral_gb FROM instances WHERE host = ? AND deleted = 0', [host]);
    const res = (project: string, cpu: number, memory: number, disk: number) => ({ resource: { host, project, cpu, memory_mb: memory, disk_gb: disk } });
    const out = [
      res('(total)', Number(node.vcpus), Number(node.memory_mb), Number(node.local_gb)),
      // Nova's compute node counts reserved_host_memory_mb (512) as used.
      res('(used_now)', u?.vcpusUsed ?? 0, 512 + (u?.memoryMbUsed ?? 0), u?.localGbUsed ?? 0),
    ];
    const byProject = new Map<string, { cpu: number; mem: number; disk: number }>();
    let cpu = 0, mem = 0, disk = 0;
    for (const i of instances) {
      const p = byProject.get(i.project_id) ?? { cpu: 0, mem: 0, disk: 0 };
      p.cpu += Number(i.vcpus); p.mem += Number(i.memory_mb); p.disk += Number(i.root_gb) + Number(i.ephemeral_gb);
      byProject.set(i.project_id, p);
      cpu += Number(i.vcpus); mem += Number(i.memory_mb); disk += Number(i.root_gb) + Number(i.ephemeral_gb);
    }
    out.push(res('(used_max)', cpu, mem, disk));
    for (const [p, v] of byProject) out.push(res(p, v.cpu, v.mem, v.disk));
    return { host: out };
  });

  app.put<{ Params: { id: string } }>('/os-hosts/:id', async (req) => {
    hostsGone(req);
    const body = req.body;
    if (!isObject(body)) throw badRequest(`Invalid input for field/attribute body. Value: ${show(body)}. ${show(body)} is not of type 'object'`);
    checkKeys(body, ['status', 'maintenance_mode']);
    const values = ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE'];
    for (const k of ['status', 'maintenance_mode']) {
      if (k in body && !values.includes(body[k])) throw badRequest(`Invalid input for field/attribute ${k}. Value: ${show(body[k])}. ${show(body[k])} is not one of ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE']`);
    }
    if (!('status' in body) && !('maintenance_mode' in body)) throw badRequest(`${show(body)} is not valid under any of the given schemas`);
    ctx.policy.authorize('os_compute_api:os-hosts:update', req.auth!, {});
    if (!(await ctx.db.get(`SELECT 1 AS x FROM compute_services WHERE host = ? AND "binary" = 'nova-compute' AND deleted = 0`, [req.params.id]))) {
      throw notFound(`Compute host ${req.params.id} could not be found.`);
    }
    // The vCenter driver implements neither host enable/disable nor maintenance mode (use os-services).
    throw notImplemented('The requested functionality is not supported.');
  });

  for (const [action, rule] of [['reboot', 'reboot'], ['shutdown', 'shutdown'], ['startup', 'start']] as const) {
    app.get<{ Params: { id: string } }>(`/os-hosts/:id/${action}`, async (req) => {
      hostsGone(req);
      ctx.policy.authorize(`os_compute_api:os-hosts:${rule}`, req.auth!, {});
      if (!(await ctx.db.get(`SELECT 1 AS x FROM compute_services WHERE host = ? AND "binary" = 'nova-compute' AND deleted = 0`, [req.params.id]))) {
        throw notFound(`Compute host ${req.params.id} could not be found.`);
      }
      // Power actions on a whole cluster are not something the vCenter driver does.
      throw notImplemented('The requested functionality is not supported.');
    });
  }

  // --- os-instance_usage_audit_log ---------------------------------------------------------------
  app.get('/os-instance_usage_audit_log', async (req) => {
    ctx.policy.authorize('os_compute_api:os-instance-usage-audit-log:list', req.auth!, {});
    return { instance_usage_audit_logs: await auditLog(ctx, new Date()) };
  });
  app.get<{ Params: { id: string } }>('/os-instance_usage_audit_log/:id', async (req) => {
    ctx.policy.authorize('os_compute_api:os-instance-usage-audit-log:show', req.auth!, {});
    const id = req.params.id;
    const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?$/.exec(id);
    const d = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : null;
    if (!m || !d || Number.isNaN(d.getTime()) || d.getUTCDate() !== +m[3]) throw badRequest(`Invalid timestamp for date ${id}`);
    return { instance_usage_audit_log: await auditLog(ctx, d) };
  });
}
