// Cinder v3 at /volume (as DevStack serves it): version discovery, microversion negotiation
// (`OpenStack-API-Version: volume 3.x` up to microversion.ts's MAX_VERSION, 3.27), Cinder's
// error format ({"itemNotFound": {"code", "message"}}), the project-scoped routes under
// /v3/{project_id}, and the small read-only resources (availability zones, extensions, limits,
// pools). Volumes, snapshots, types, quotas, actions, services, and the APIs of later
// microversions (messages, clusters, manage existing, backups, groups, attachments) live in
// their own files.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context, ServiceModule } from '../core/service.ts';
import { useErrorFormat } from '../core/http.ts';
import { requireToken } from '../core/auth.ts';
import { forbidden } from '../core/errors.ts';
import { MAX_VERSION, MIN_VERSION, negotiate, versionString } from './microversion.ts';
import { migrations } from './db.ts';
import { CINDER_POLICY } from './policy.ts';
import { volumeRoutes, registerVolumeTasks, VOLUME_AZ } from './volumes.ts';
import { typeRoutes, seedTypes, typeMigrations, TYPE_POLICY } from './types.ts';
import { quotaRoutes, quotaUsage } from './quotas.ts';
import { createVolumeApi } from './nova.ts';
import { actionRoutes, registerActionTasks } from './actions.ts';
import { capabilityRoutes, hostRoutes } from './hosts.ts';
import { serviceRoutes } from './services.ts';
import { qosRoutes } from './qos.ts';
import { snapshotRoutes, registerSnapshotTasks, snapshotMigrations, SNAPSHOT_POLICY } from './snapshots.ts';
import { transferRoutes, transferMigrations, TRANSFER_POLICY } from './transfers.ts';
import { messageRoutes, messageMigrations, MESSAGE_POLICY } from './messages.ts';
import { clusterRoutes, CLUSTER_POLICY } from './clusters.ts';
import { manageRoutes, registerManageTasks, MANAGE_POLICY } from './manage.ts';
import { backupRoutes, BACKUP_POLICY } from './backups.ts';
import { groupsRoutes, groupMigrations, registerGroupTasks, GROUP_POLICY } from './groups.ts';
import { attachmentApiRoutes, ATTACHMENT_POLICY } from './attachments_api.ts';

export { MIN_VERSION, MAX_VERSION } from './microversion.ts';

const FAULT_NAMES: Record<number, string> = {
  400: 'badRequest', 401: 'unauthorized', 403: 'forbidden', 404: 'itemNotFound', 405: 'badMethod', 406: 'notAcceptable',
  409: 'conflictingRequest', 412: 'preconditionFailed', 413: 'overLimit', 415: 'badMediaType', 501: 'notImplemented', 503: 'serviceUnavailable',
};

function versionDoc(ctx: Context) {
  return {
    id: 'v3.0', status: 'CURRENT', version: MAX_VERSION, min_version: MIN_VERSION, updated: '2023-08-31T00:00:00Z',
    links: [{ rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' }, { rel: 'self', href: `${ctx.config.publicUrl}/volume/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }],
  };
}

const EXTENSIONS = [
  ['os-availability-zone', 'AvailabilityZones', 'Describe Availability Zones.'],
  ['os-hosts', 'Hosts', 'Admin-only host administration.'],
  ['os-extended-snapshot-attributes', 'ExtendedSnapshotAttributes', 'Extended SnapshotAttributes support.'],
  ['os-quota-sets', 'Quotas', 'Quota management support.'],
  ['qos-specs', 'Qos_specs_manage', 'QoS specs support.'],
  ['os-services', 'Services', 'Services support.'],
  ['os-types-manage', 'TypesManage', 'Types manage support.'],
  ['os-types-extra-specs', 'TypesExtraSpecs', 'Type extra specs support.'],
  ['encryption', 'VolumeTypeEncryption', 'Encryption support for volume types.'],
  ['os-snapshot-actions', 'SnapshotActions', 'Enable snapshot manager actions.'],
  ['os-volume-transfer', 'VolumeTransfer', 'Volume transfer management support.'],
  ['os-volume-actions', 'VolumeActions', 'Enable volume actions.'],
  ['os-volume-type-access', 'VolumeTypeAccess', 'Volume type access support.'],
  ['os-vol-host-attr', 'VolumeHostAttribute', 'Expose host as an attribute of a volume.'],
  ['os-vol-tenant-attr', 'VolumeTenantAttribute', 'Expose the internal project_id as an attribute of a volume.'],
  ['os-vol-image-meta', 'VolumeImageMetadata', 'Show image metadata associated with the volume.'],
  ['os-admin-actions', 'AdminActions', 'Enable admin actions.'],
  ['os-used-limits', 'UsedLimits', 'Provide data on limited resources that are being used.'],
  ['scheduler-stats', 'Scheduler_stats', 'Scheduler stats support.'],
  ['os-volume-manage', 'VolumeManage', 'Allows existing backend storage to be \'managed\' by Cinder.'],
  ['os-volume-unmanage', 'VolumeUnmanage', 'Enable volume unmanage operation.'],
  ['os-snapshot-manage', 'SnapshotManage', 'Allows existing backend storage to be \'managed\' by Cinder.'],
  ['os-snapshot-unmanage', 'SnapshotUnmanage', 'Enable volume unmanage operation.'],
  ['backups', 'Backups', 'Backups support.'],
].map(([alias, name, description]) => ({ alias, name, description, updated: '2013-01-01T00:00:00+00:00', links: [] }));

export const blockStorage: ServiceModule = {
  name: 'block-storage',
  prefix: '/volume',
  migrations: [...migrations, ...snapshotMigrations, ...transferMigrations, ...typeMigrations, ...messageMigrations, ...groupMigrations],
  policy: { ...CINDER_POLICY, ...SNAPSHOT_POLICY, ...TRANSFER_POLICY, ...TYPE_POLICY, ...MESSAGE_POLICY, ...CLUSTER_POLICY, ...MANAGE_POLICY, ...BACKUP_POLICY, ...GROUP_POLICY, ...ATTACHMENT_POLICY },
  catalog: [
    { type: 'block-storage', name: 'cinder', path: '/volume/v3/$(project_id)s' },
    { type: 'volumev3', name: 'cinderv3', path: '/volume/v3/$(project_id)s' },
  ],
  async init(ctx) {
    registerVolumeTasks(ctx);
    registerActionTasks(ctx);
    registerSnapshotTasks(ctx);
    registerManageTasks(ctx);
    registerGroupTasks(ctx);
    ctx.services.volume = createVolumeApi(ctx);
  },
  async seed(ctx) { await seedTypes(ctx); },
  async routes(app: FastifyInstance, ctx: Context) {
    useErrorFormat(app, ctx, (e) => {
      if (e.status === 401) return { body: { error: { code: 401, title: 'Unauthorized', message: e.message } } };
      const name = e.extra.name ?? FAULT_NAMES[e.status] ?? 'computeFault';
      return { body: { [name]: { code: e.status, message: e.message } } };
    });
    app.get('/', async (req, reply) => { reply.code(300); return { versions: [versionDoc(ctx)] }; });
    app.get('/v3', async () => ({ versions: [versionDoc(ctx)] }));
    await app.register(async (v3: FastifyInstance) => {
      v3.addHook('onRequest', async (req, reply) => {
        // The headers go on every answer, the 400/406 of a bad version included.
        reply.header('Vary', 'OpenStack-API-Version');
        const v = negotiate(req);
        req.volumeMicroversion = v;
        reply.header('OpenStack-API-Version', `volume ${versionString(v)}`);
      });
      v3.addHook('preHandler', requireToken(ctx.tokens));
      // The project in the URL must be the token's, except for admins acting on any project.
      v3.addHook('preHandler', async (req) => {
        const { project_id } = req.params as { project_id: string };
        const a = req.auth!;
        if (project_id !== a.projectId && !a.roles.includes('admin')) throw forbidden('Policy doesn\'t allow this operation on another project.');
      });
      v3.get('/os-availability-zone', async () => ({ availabilityZoneInfo: [{ zoneName: VOLUME_AZ, zoneState: { available: true } }] }));
      v3.get('/extensions', async () => ({ extensions: EXTENSIONS }));
      await hostRoutes(v3, ctx);
      await capabilityRoutes(v3, ctx);
      await serviceRoutes(v3, ctx);
      await qosRoutes(v3, ctx);
      v3.get('/limits', async (req) => {
        const { project_id } = req.params as { project_id: string };
        const u = await quotaUsage(ctx.db, project_id);
        return {
          limits: {
            rate: [],
            absolute: {
              maxTotalVolumes: u.volumes.limit, maxTotalSnapshots: u.snapshots.limit, maxTotalVolumeGigabytes: u.gigabytes.limit,
              maxTotalBackups: 0, maxTotalBackupGigabytes: 0, totalVolumesUsed: u.volumes.in_use, totalSnapshotsUsed: u.snapshots.in_use,
              totalGigabytesUsed: u.gigabytes.in_use, totalBackupsUsed: 0, totalBackupGigabytesUsed: 0,
            },
          },
        };
      });
      v3.get('/scheduler-stats/get_pools', async (req) => {
        ctx.policy.authorize('scheduler_extension:scheduler_stats:get_pools', req.auth!, {});
        const detail = ((req.query as Record<string, string>).detail ?? '').toLowerCase() === 'true';
        const pools = await ctx.volumeDriver.pools();
        return {
          pools: pools.map((p) => ({
            name: `vistack@vmdk#${p.name}`,
            ...(detail ? { capabilities: { pool_name: p.name, volume_backend_name: 'vmdk', vendor_name: 'VMware', driver_version: '1.0', storage_protocol: 'vmdk', total_capacity_gb: p.totalCapacityGb, free_capacity_gb: p.freeCapacityGb, provisioned_capacity_gb: p.provisionedCapacityGb, thin_provisioning_support: true, thick_provisioning_support: true, reserved_percentage: 0 } } : {}),
          })),
        };
      });
      await typeRoutes(v3, ctx);
      await quotaRoutes(v3, ctx);
      await volumeRoutes(v3, ctx);
      await actionRoutes(v3, ctx);
      await snapshotRoutes(v3, ctx);
      await transferRoutes(v3, ctx);
      await messageRoutes(v3, ctx);
      await clusterRoutes(v3, ctx);
      await manageRoutes(v3, ctx);
      await backupRoutes(v3, ctx);
      await groupsRoutes(v3, ctx);
      await attachmentApiRoutes(v3, ctx);
    }, { prefix: '/v3/:project_id' });
  },
};
