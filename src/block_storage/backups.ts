// Cinder's backups API as Cinder answers it without a cinder-backup service: this cloud runs
// none, so a create is checked (body, volume, its status) and then refused with Cinder's
// ServiceNotFound for cinder-backup (404), as backup.api.API.create does when no backup service
// is up. No backup can therefore exist: the lists are empty and every backup id is not found,
// also for the update of 3.9 and the restore, export and admin actions.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import { ApiError, badRequest } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import { optionalString, paginationParams, parseBool, sortParams } from './common.ts';
import { requireVersion } from './microversion.ts';
import { findVolume, volumeTarget } from './volumes.ts';
import { snapshotRow } from './snapshots.ts';

export const BACKUP_POLICY: Record<string, string> = {
  'backup:create': 'rule:project_member_or_admin',
  'backup:get': 'rule:project_reader_or_admin',
  'backup:get_all': 'rule:project_reader_or_admin',
  'backup:delete': 'rule:project_member_or_admin',
  'backup:restore': 'rule:project_member_or_admin',
  'backup:update': 'rule:project_member_or_admin',
  'backup:backup-export': 'rule:context_is_admin',
  'backup:backup-import': 'rule:context_is_admin',
  'volume_extension:backup_admin_actions:reset_status': 'rule:context_is_admin',
  'volume_extension:backup_admin_actions:force_delete': 'rule:context_is_admin',
};

const SORT_KEYS = ['id', 'name', 'status', 'size', 'created_at', 'updated_at', 'volume_id', 'project_id', 'availability_zone', 'container', 'description'];

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const notFound = (id: string) => new ApiError(404, `Backup ${id} could not be found.`);
const noService = () => new ApiError(404, 'Service cinder-backup could not be found.');

function list(ctx: Context, req: FastifyRequest) {
  ctx.policy.authorize('backup:get_all', req.auth!, { project_id: req.auth!.projectId });
  paginationParams(req);
  sortParams(req, SORT_KEYS);
  return { backups: [] };
}

function field(b: Record<string, any>, key: string, type: 'uuid' | 'string' | 'bool', nullable = false) {
  const v = b[key];
  if (v === undefined || (v === null && nullable)) return v;
  if (type === 'uuid' && (typeof v !== 'string' || !isUuid(v))) throw badRequest(`Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. ${JSON.stringify(v)} is not a 'uuid'`);
  if (type === 'string') optionalString(v, key);
  if (type === 'bool') parseBool(v, key);
  return v;
}

export async function backupRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/backups', async (req) => list(ctx, req));
  app.get('/backups/detail', async (req) => list(ctx, req));

  app.post('/backups', async (req) => {
    const body = req.body;
    if (!isObj(body) || !isObj(body.backup)) throw badRequest("Invalid input for field/attribute backup. 'backup' is a required property");
    const b = body.backup;
    for (const k of Object.keys(b)) {
      if (!['volume_id', 'container', 'description', 'incremental', 'force', 'name', 'snapshot_id'].includes(k)) {
        throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
      }
    }
    if (!('volume_id' in b)) throw badRequest("Invalid input for field/attribute backup. 'volume_id' is a required property");
    field(b, 'volume_id', 'uuid');
    field(b, 'snapshot_id', 'uuid', true);
    for (const k of ['container', 'description', 'name']) field(b, k, 'string', true);
    const force = b.force === undefined ? false : parseBool(b.force, 'force');
    if (b.incremental !== undefined) parseBool(b.incremental, 'incremental');
    const v = await findVolume(ctx, req, b.volume_id);
    ctx.policy.authorize('backup:create', req.auth!, volumeTarget(v));
    if (b.snapshot_id) {
      const s = await snapshotRow(ctx.db, b.snapshot_id);
      if (!s || (s.project_id !== v.project_id)) throw new ApiError(404, `Snapshot ${b.snapshot_id} could not be found.`);
      if (s.volume_id !== v.id) throw badRequest(`Invalid volume: Volume ${v.id} does not match with snapshot.volume_id ${s.volume_id}.`);
      if (s.status !== 'available') throw badRequest(`Invalid snapshot: Snapshot to be backed up must be available, but the current status is "${s.status}".`);
    } else if (v.status !== 'available' && v.status !== 'in-use') {
      throw badRequest(`Invalid volume: Volume to be backed up must be available or in-use, but the current status is "${v.status}".`);
    } else if (v.status === 'in-use' && !force) {
      throw badRequest('Invalid volume: Backing up an in-use volume must use the force flag.');
    }
    throw noService();
  });

  app.post('/backups/import_record', async (req) => {
    ctx.policy.authorize('backup:backup-import', req.auth!, {});
    const body = req.body;
    const r = isObj(body) ? body['backup-record'] : undefined;
    if (!isObj(r) || typeof r.backup_service !== 'string' || typeof r.backup_url !== 'string') {
      throw badRequest("Invalid input for field/attribute backup-record. 'backup_service' and 'backup_url' are required properties");
    }
    throw new ApiError(404, `Service ${r.backup_service} could not be found.`);
  });

  const lookup = async (req: FastifyRequest, rule: string) => {
    const { id } = req.params as { id: string };
    ctx.policy.authorize(rule, req.auth!, { project_id: req.auth!.projectId });
    throw notFound(id);
  };
  app.get('/backups/:id', async (req) => lookup(req, 'backup:get'));
  app.delete('/backups/:id', async (req) => lookup(req, 'backup:delete'));
  app.put('/backups/:id', async (req) => {
    requireVersion(req, '3.9');
    const body = req.body;
    if (!isObj(body) || !('backup' in body)) throw badRequest("Invalid input for field/attribute backup. 'backup' is a required property");
    if (body.backup !== null) {
      if (!isObj(body.backup)) throw badRequest(`Invalid input for field/attribute backup. Value: ${JSON.stringify(body.backup)}. ${JSON.stringify(body.backup)} is not of type 'object', 'null'`);
      for (const k of Object.keys(body.backup)) if (k !== 'name' && k !== 'description') throw badRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
      optionalString(body.backup.name, 'name');
      optionalString(body.backup.description, 'description');
    }
    return lookup(req, 'backup:update');
  });
  app.post('/backups/:id/restore', async (req) => lookup(req, 'backup:restore'));
  app.get('/backups/:id/export_record', async (req) => lookup(req, 'backup:backup-export'));
  app.post('/backups/:id/action', async (req) => {
    const body = req.body;
    const action = isObj(body) ? Object.keys(body)[0] : undefined;
    if (action === 'os-reset_status') return lookup(req, 'volume_extension:backup_admin_actions:reset_status');
    if (action === 'os-force_delete') return lookup(req, 'volume_extension:backup_admin_actions:force_delete');
    throw badRequest(`There is no such action: ${action ?? 'None'}`);
  });
}
