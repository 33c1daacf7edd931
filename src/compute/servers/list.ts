// GET /servers and /servers/detail: Nova's search options (what non-admins may use, all of them
// for admins), status → vm_state/task_state, changes-since/before (deleted servers included),
// tags filters, regex filters, sort_key/sort_dir with Nova's defaults (created_at desc, id desc)
// and marker/limit paging. Exact filters run in SQL; regex ones (Python `re.search` semantics on
// the column, as Nova's SQLite backend) run on the rows; the page's related rows are loaded in
// one query per table.
import type { FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { badRequest, forbidden } from '../../core/errors.ts';
import { mv } from '../microversion.ts';
import { allowed, isAdmin, limitAndMarker, nextLinks, parseBoolean } from '../common.ts';
import { getFlavor } from '../flavors.ts';
import { instanceFromRow, type Instance } from './db.ts';
import { listQuerySchema, SERVER_LIST_IGNORE_SORT_KEY } from './schemas.ts';
import { parseIsoTime, validateQuery } from './validate.ts';
import { basicView, loadExtras, serverView, statesFromStatuses } from './views.ts';
import { vifsOf } from './network.ts';
import { normalizeUuid, queryMulti } from './common.ts';
import { isUuid } from '../../core/ids.ts';

/** What the list views read: the large JSON columns (system metadata, mappings, hints) stay in the table. */
const LIST_COLUMNS = `uuid, id, project_id, user_id, display_name, display_description, hostname, vcpus, memory_mb, root_gb,
  ephemeral_gb, swap_mb, flavor_id, flavor, image_ref, host, node, availability_zone, requested_availability_zone, vm_state,
  task_state, power_state, key_name, user_data, config_drive, access_ip_v4, access_ip_v6, auto_disk_config, reservation_id,
  launch_index, locked_by, locked_reason, progress, launched_at, terminated_at, trusted_certs, created_at, updated_at,
  deleted_at, deleted`;

const TAG_FILTERS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'];
const PAGING_SORTING = ['sort_key', 'sort_dir', 'limit', 'marker'];
const JOINED_TABLE_PARAMS = ['block_device_mapping', 'services', 'metadata', 'system_metadata', 'info_cache', 'security_groups', 'pci_devices'];

/** Sort keys → instance field (SQL column names are Nova's). */
const SORT_FIELDS: Record<string, (i: Instance) => string | number | null> = {
  access_ip_v4: (i) => i.accessIpV4, access_ip_v6: (i) => i.accessIpV6, auto_disk_config: (i) => (i.autoDiskConfig ? 1 : 0),
  availability_zone: (i) => i.availabilityZone, config_drive: (i) => i.configDrive, created_at: (i) => i.createdAt,
  display_description: (i) => i.displayDescription, display_name: (i) => i.displayName, host: (i) => i.host,
  hostname: (i) => i.hostname, image_ref: (i) => i.imageRef, instance_type_id: (i) => i.flavorId, kernel_id: () => '',
  key_name: (i) => i.keyName, launch_index: (i) => i.launchIndex, launched_at: (i) => i.launchedAt,
  locked_by: (i) => i.lockedBy, locked: (i) => (i.lockedBy ? 1 : 0), node: (i) => i.node, power_state: (i) => i.powerState,
  progress: (i) => i.progress, project_id: (i) => i.projectId, ramdisk_id: () => '', root_device_name: () => null,
  task_state: (i) => i.taskState, terminated_at: (i) => i.terminatedAt, updated_at: (i) => i.updatedAt,
  user_id: (i) => i.userId, uuid: (i) => i.uuid, vm_state: (i) => i.vmState, id: (i) => i.id,
};

/** Regex-matched filters (Nova's _regex_instance_filter over instance columns). */
const REGEX_FIELDS: Record<string, (i: Instance) => unknown> = {
  display_name: (i) => i.displayName, display_description: (i) => i.displayDescription, hostname: (i) => i.hostname,
  key_name: (i) => i.keyName, node: (i) => i.node, reservation_id: (i) => i.reservationId,
  availability_zone: (i) => i.availabilityZone, launched_at: (i) => i.launchedAt, terminated_at: (i) => i.terminatedAt,
  created_at: (i) => i.createdAt, power_state: (i) => i.powerState, config_drive: (i) => i.configDrive,
  access_ip_v4: (i) => i.accessIpV4, access_ip_v6: (i) => i.accessIpV6, auto_disk_config: (i) => (i.autoDiskConfig ? 1 : 0),
  progress: (i) => i.progress, locked_by: (i) => i.lockedBy, launch_index: (i) => i.launchIndex,
  kernel_id: () => '', ramdisk_id: () => '', root_device_name: () => null,
};

/** Python re.search, falling back to a substring test for patterns JavaScript cannot compile. */
function matcher(pattern: string): (v: unknown) => boolean {
  let re: RegExp | null = null;
  try { re = new RegExp(pattern); } catch { re = null; }
  return (v) => {
    if (v === null || v === undefined) return false;
    const s = String(v);
    return re ? re.test(s) : s.includes(pattern);
  };
}

function allowedOptions(req: FastifyRequest): string[] {
  const v = mv(req);
  const opts = ['reservation_id', 'name', 'status', 'image', 'flavor', 'ip', 'changes-since', 'all_tenants'];
  if (v.atLeast('2.5')) opts.push('ip6');
  if (v.atLeast('2.26')) opts.push(...TAG_FILTERS);
  if (v.atLeast('2.66')) opts.push('changes-before');
  if (v.atLeast('2.73')) opts.push('locked');
  return opts;
}

export async function listServers(ctx: Context, req: FastifyRequest, detail: boolean) {
  const v = mv(req);
  ctx.policy.authorize(detail ? 'os_compute_api:servers:detail' : 'os_compute_api:servers:index', req.auth!, { project_id: req.auth!.projectId });
  const multi = queryMulti(req);
  validateQuery(listQuerySchema(req), multi);
  const admin = isAdmin(ctx, req);

  // search_opts.update(req.GET): the last value of each parameter.
  const opts: Record<string, string> = {};
  for (const [k, vals] of Object.entries(multi)) opts[k] = vals[vals.length - 1];
  if (allowed(ctx, req, 'os_compute_api:servers:allow_all_filters')) {
    for (const k of PAGING_SORTING) delete opts[k];
  } else {
    const ok = allowedOptions(req);
    for (const k of Object.keys(opts)) if (!ok.includes(k)) delete opts[k];
  }
  for (const k of Object.keys(opts)) {
    if (JOINED_TABLE_PARAMS.includes(k) || k.startsWith('_')) throw badRequest(`Invalid filter field: ${k}.`);
  }

  const where: string[] = [];
  const params: any[] = [];
  const empty = () => ({ servers: [] });

  if ('status' in opts) {
    delete opts.status;
    const st = statesFromStatuses(multi.status);
    if (!st.vmStates.length) {
      if (v.atLeast('2.38')) throw badRequest('Invalid status value');
      return empty();
    }
    if (st.vmStates.length === 1 && st.vmStates[0] === 'deleted') {
      if (!admin) throw forbidden('Only administrators may list deleted instances');
      opts.deleted = 'true';
    } else {
      where.push(`vm_state IN (${st.vmStates.map(() => '?').join(',')})`);
      params.push(...st.vmStates);
    }
    if (!st.anyTask) {
      where.push(`task_state IN (${st.taskStates.map(() => '?').join(',')})`);
      params.push(...st.taskStates);
    }
  }

  let since: Date | null = null, before: Date | null = null;
  if ('changes-since' in opts) {
    since = parseIsoTime(opts['changes-since']);
    if (!since) throw badRequest('Invalid filter field: changes-since.');
  }
  if ('changes-before' in opts) {
    before = parseIsoTime(opts['changes-before']);
    if (!before) throw badRequest('Invalid filter field: changes-before.');
    if (since && before < since) throw badRequest('The value of changes-since must be less than or equal to changes-before.');
  }
  if (since) { where.push('updated_at >= ?'); params.push(since.toISOString()); }
  if (before) { where.push('updated_at <= ?'); params.push(before.toISOString()); }

  const softDeleted = 'soft_deleted' in opts ? safeBool(opts.soft_deleted) : undefined;
  if ('deleted' in opts) {
    if (safeBool(opts.deleted)) {
      where.push(softDeleted === false ? 'deleted <> 0' : `(deleted <> 0 OR vm_state = 'soft-delete')`);
    } else {
      where.push('deleted = 0');
      if (!softDeleted) where.push(`vm_state <> 'soft-delete'`);
    }
  } else if (!since && !before) {
    where.push('deleted = 0', `vm_state <> 'soft-delete'`);
  }

  let allTenants = false;
  if ('all_tenants' in opts) {
    // The empty string also asks for all tenants (common.is_all_tenants).
    if (opts.all_tenants === '') allTenants = true;
    else try { allTenants = parseBoolean(opts.all_tenants, 'all_tenants'); } catch { throw badRequest(`Invalid input received: Unrecognized value '${opts.all_tenants}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`); }
    delete opts.all_tenants;
  }
  if (allTenants) {
    ctx.policy.authorize(detail ? 'os_compute_api:servers:detail:get_all_tenants' : 'os_compute_api:servers:index:get_all_tenants', req.auth!, {});
    if ('tenant_id' in opts) { opts.project_id = opts.tenant_id; delete opts.tenant_id; }
  } else {
    delete opts.tenant_id;
    if (req.auth!.projectId) opts.project_id = req.auth!.projectId;
    else opts.user_id = req.auth!.userId;
  }

  if ('locked' in opts) {
    let locked: boolean;
    try { locked = parseBoolean(opts.locked, 'locked'); } catch { throw badRequest(`Unrecognized value '${opts.locked}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`); }
    where.push(locked ? 'locked_by IS NOT NULL' : 'locked_by IS NULL');
    delete opts.locked;
  }

  // Exact filters (Nova's exact_match_filter_names); name aliases first.
  if ('image' in opts) { opts.image_ref = opts.image; delete opts.image; }
  if ('name' in opts) { opts.display_name = opts.name; delete opts.name; }
  if ('description' in opts) { opts.display_description = opts.description; delete opts.description; }
  if ('flavor' in opts) {
    const f = await getFlavor(ctx.db, opts.flavor);
    if (!f) return empty();
    where.push('flavor_id = ?');
    params.push(f.id);
    delete opts.flavor;
  }
  const exact: Record<string, string> = { project_id: 'project_id', user_id: 'user_id', image_ref: 'image_ref', vm_state: 'vm_state', task_state: 'task_state', host: 'host', uuid: 'uuid' };
  for (const [k, col] of Object.entries(exact)) {
    if (!(k in opts)) continue;
    let val = opts[k];
    if (k === 'image_ref') val = val.replace(/^.*\//, '');
    where.push(`${col} = ?`);
    params.push(val);
    delete opts[k];
  }

  if (v.atLeast('2.26')) {
    const list = (k: string) => opts[k].split(',');
    if ('tags' in opts) for (const t of list('tags')) { where.push('EXISTS (SELECT 1 FROM instance_tags g WHERE g.instance_uuid = instances.uuid AND g.tag = ?)'); params.push(t); }
    if ('tags-any' in opts) { const ts = list('tags-any'); where.push(`EXISTS (SELECT 1 FROM instance_tags g WHERE g.instance_uuid = instances.uuid AND g.tag IN (${ts.map(() => '?').join(',')}))`); params.push(...ts); }
    if ('not-tags' in opts) {
      const ts = list('not-tags');
      where.push(`NOT (${ts.map(() => 'EXISTS (SELECT 1 FROM instance_tags g WHERE g.instance_uuid = instances.uuid AND g.tag = ?)').join(' AND ')})`);
      params.push(...ts);
    }
    if ('not-tags-any' in opts) { const ts = list('not-tags-any'); where.push(`NOT EXISTS (SELECT 1 FROM instance_tags g WHERE g.instance_uuid = instances.uuid AND g.tag IN (${ts.map(() => '?').join(',')}))`); params.push(...ts); }
  }
  for (const k of TAG_FILTERS) delete opts[k];
  delete opts['changes-since'];
  delete opts['changes-before'];
  delete opts.deleted;
  delete opts.soft_deleted;

  // ip / ip6 match the instance's fixed addresses (Nova's _ip_filter, re.match: anchored at the start).
  const ipFilters: [4 | 6, RegExp | string][] = [];
  for (const [k, ver] of [['ip', 4], ['ip6', 6]] as const) {
    if (!(k in opts)) continue;
    let re: RegExp | string;
    try { re = new RegExp(`^(?:${opts[k]})`); } catch { re = opts[k]; }
    ipFilters.push([ver, re]);
    delete opts[k];
  }
  // Without a network service no server has an address.
  if (ipFilters.length && !ctx.services.network) return empty();
  const regex: [(i: Instance) => unknown, (v: unknown) => boolean][] = [];
  for (const [k, val] of Object.entries(opts)) {
    const field = REGEX_FIELDS[k];
    if (field) regex.push([field, matcher(val)]);
  }

  // Sorting (get_sort_params + the DB layer's process_sort_params).
  let sortKeys = (multi.sort_key ?? []).map((s) => s.trim());
  let sortDirs = (multi.sort_dir ?? []).map((s) => s.trim());
  if (!sortKeys.length) sortKeys = ['created_at'];
  if (!sortDirs.length) sortDirs = ['desc'];
  const ignored = v.atLeast('2.73') ? SERVER_LIST_IGNORE_SORT_KEY.filter((k) => k !== 'locked') : SERVER_LIST_IGNORE_SORT_KEY;
  for (const key of [...sortKeys]) {
    const k = sortKeys.indexOf(key);
    if (ignored.includes(key)) {
      if (sortDirs.length > k) sortDirs.splice(k, 1);
      sortKeys.splice(k, 1);
    } else if ((key === 'host' || key === 'node') && !admin) {
      throw forbidden(`Only administrators can sort servers by ${key}`);
    }
  }
  for (const d of sortDirs) if (d !== 'asc' && d !== 'desc') throw badRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'");
  if (sortDirs.length > sortKeys.length && sortKeys.length) throw badRequest('Invalid input received: Sort direction size exceeds sort key size');
  const defaultDir = (multi.sort_dir?.length ? sortDirs[0] : undefined) ?? 'desc';
  const dirs = sortKeys.map((_, k) => sortDirs[k] ?? defaultDir);
  for (const dk of ['created_at', 'id']) if (!sortKeys.includes(dk)) { sortKeys.push(dk); dirs.push(defaultDir); }
  const getters = sortKeys.map((k) => SORT_FIELDS[k] ?? (() => null));
  const compare = (a: Instance, b: Instance) => {
    for (let k = 0; k < getters.length; k++) {
      const x = getters[k](a), y = getters[k](b);
      if (x === y) continue;
      // NULLs sort first in ascending order (MySQL's behaviour, which Nova's clients expect).
      let c: number;
      if (x === null || x === undefined) c = -1;
      else if (y === null || y === undefined) c = 1;
      else c = x < y ? -1 : x > y ? 1 : 0;
      if (c) return dirs[k] === 'desc' ? -c : c;
    }
    return 0;
  };

  const { limit, marker } = limitAndMarker(req);
  let markerRow: Instance | null = null;
  if (marker !== undefined) {
    const r = isUuid(marker) ? await ctx.db.get('SELECT * FROM instances WHERE uuid = ?', [normalizeUuid(marker)]) : undefined;
    if (!r) throw badRequest(`marker [${marker}] not found`);
    markerRow = instanceFromRow(r);
  }

  const sql = `SELECT ${LIST_COLUMNS} FROM instances${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
  let rows = (await ctx.db.all(sql, params)).map(instanceFromRow);
  if (regex.length) rows = rows.filter((i) => regex.every(([get, m]) => m(get(i))));
  if (ipFilters.length) {
    const vifs = await vifsOf(ctx, rows.filter((i) => !i.deleted).map((i) => i.uuid));
    rows = rows.filter((i) => (vifs.get(i.uuid) ?? []).some((vif) => vif.fixedIps.some((ip) => ipFilters.some(([ver, re]) => (
      ip.version === ver && (typeof re === 'string' ? ip.address.startsWith(re) : re.test(ip.address)))))));
  }
  rows.sort(compare);
  if (markerRow) {
    const mk = markerRow;
    rows = rows.filter((i) => compare(mk, i) < 0);
  }
  const page = rows.slice(0, limit);

  const out: Record<string, unknown> = {};
  if (detail) {
    const extras = await loadExtras(ctx, req, page);
    out.servers = page.map((i) => serverView(ctx, req, i, extras, { full: true }));
  } else {
    out.servers = page.map((i) => basicView(ctx, req, i));
  }
  const links = nextLinks(ctx, req, detail ? 'servers/detail' : 'servers', page.length, page[page.length - 1]?.uuid, limit);
  if (links) out.servers_links = links;
  return out;
}

function safeBool(s: string): boolean {
  const x = s.trim().toLowerCase();
  return ['1', 't', 'true', 'on', 'y', 'yes'].includes(x);
}
