// Subnet pools (subnet_allocation, default-subnetpools): sets of prefixes from which subnets get
// their CIDRs. A pool's prefixes are kept merged (overlapping and adjacent ones compacted as
// Neutron's IPSet does), may only grow, and the pool cannot go while subnets use it. Allocation
// runs in the subnet's transaction under a per-pool lock, so concurrent creates never overlap:
// best fit (the smallest free block that holds the requested size) at its lowest address.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, fromJson, toJson } from '../core/db/index.ts';
import { badRequest } from '../core/errors.ts';
import { uuid, nowIso } from '../core/ids.ts';
import type { NetworkPart } from './index.ts';
import { neutronTime } from './db.ts';
import {
  authorize, boolAttr, checkRevision, collectionUrl, intAttr, isAdmin, neutronError, onlyAttributes, ownerOf,
  resourceBody, str, tagsOf, TAG_FILTERS,
} from './common.ts';
import { listResponse, queryOf, showFields } from './query.ts';
import { TAGGABLE } from './tags.ts';
import { formatCidr, lastIp, parseCidr, type Cidr, type IpVersion } from './ip.ts';

const ATTRS = ['name', 'description', 'prefixes', 'default_prefixlen', 'min_prefixlen', 'max_prefixlen', 'default_quota',
  'shared', 'is_default', 'address_scope_id', 'tenant_id', 'project_id', 'tags'];
const BITS: Record<IpVersion, number> = { 4: 32, 6: 128 };
/** Neutron's defaults: min_prefixlen /8 (IPv4) and /64 (IPv6); quotas count /32s and /64s. */
const DEFAULT_MIN: Record<IpVersion, number> = { 4: 8, 6: 64 };
const QUOTA_UNIT: Record<IpVersion, number> = { 4: 32, 6: 64 };

export const notFoundPool = (id: string) => neutronError(404, 'SubnetPoolNotFound', `Subnet pool ${id} could not be found.`);

// ---- address sets: sorted, disjoint, non-adjacent ranges [start, end] ----

type Range = { start: bigint; end: bigint };

function merge(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r.start <= last.end + 1n) { if (r.end > last.end) last.end = r.end; } else out.push({ ...r });
  }
  return out;
}

function subtract(from: Range[], minus: Range[]): Range[] {
  let out = from.map((r) => ({ ...r }));
  for (const m of merge(minus)) {
    const next: Range[] = [];
    for (const r of out) {
      if (m.end < r.start || m.start > r.end) { next.push(r); continue; }
      if (m.start > r.start) next.push({ start: r.start, end: m.start - 1n });
      if (m.end < r.end) next.push({ start: m.end + 1n, end: r.end });
    }
    out = next;
  }
  return out;
}

/** The fewest CIDRs covering a range exactly (netaddr's iter_cidrs), in address order. */
function rangeCidrs(version: IpVersion, r: Range): Cidr[] {
  const bits = BITS[version];
  const out: Cidr[] = [];
  let at = r.start;
  while (at <= r.end) {
    let prefix = bits;
    // Grow the block while it stays aligned at `at` and inside the range.
    while (prefix > 0) {
      const size = 1n << BigInt(bits - prefix + 1);
      if (at % size !== 0n || at + size - 1n > r.end) break;
      prefix--;
    }
    const size = 1n << BigInt(bits - prefix);
    out.push({ version, network: at, prefix, size });
    at += size;
  }
  return out;
}

const toRange = (c: Cidr): Range => ({ start: c.network, end: lastIp(c) });

/** Prefixes merged as Neutron stores them (overlaps and neighbours compacted). */
export function compact(version: IpVersion, cidrs: Cidr[]): Cidr[] {
  return merge(cidrs.map(toRange)).flatMap((r) => rangeCidrs(version, r));
}

/** Free blocks of a pool: its prefixes minus the subnets allocated from it, smallest blocks first. */
function freeBlocks(version: IpVersion, prefixes: Cidr[], used: Cidr[]): Cidr[] {
  const free = subtract(merge(prefixes.map(toRange)), used.map(toRange)).flatMap((r) => rangeCidrs(version, r));
  return free.sort((a, b) => b.prefix - a.prefix || (a.network < b.network ? -1 : a.network > b.network ? 1 : 0));
}

// ---- rows and views ----

export interface PoolRow {
  id: string; project_id: string; name: string; description: string; ip_version: number; prefixes: string;
  default_prefixlen: number; min_prefixlen: number; max_prefixlen: number; default_quota: number | null;
  shared: unknown; is_default: unknown; revision_number: number; created_at: string; updated_at: string;
  [k: string]: unknown;
}

const prefixesOf = (r: PoolRow) => fromJson<string[]>(r.prefixes, []).map((p) => parseCidr(p)!);

async function poolViews(q: Queryable, rows: PoolRow[]) {
  const tags = await tagsOf(q, 'subnetpools', rows.map((r) => r.id));
  return rows.map((r) => ({
    id: r.id, name: r.name, tenant_id: r.project_id, project_id: r.project_id, prefixes: fromJson<string[]>(r.prefixes, []),
    default_prefixlen: Number(r.default_prefixlen), min_prefixlen: Number(r.min_prefixlen), max_prefixlen: Number(r.max_prefixlen),
    default_quota: r.default_quota === null ? null : Number(r.default_quota), ip_version: Number(r.ip_version),
    shared: bool(r.shared), is_default: bool(r.is_default), address_scope_id: null, description: r.description,
    tags: tags.get(r.id) ?? [], created_at: neutronTime(r.created_at), updated_at: neutronTime(r.updated_at),
    revision_number: Number(r.revision_number),
  }));
}

const canSeePool = (req: FastifyRequest, r: PoolRow) => isAdmin(req.auth!) || r.project_id === req.auth!.projectId || bool(r.shared);

export async function findPool(ctx: Context, req: FastifyRequest, id: string, q: Queryable = ctx.db): Promise<PoolRow> {
  const r = (await q.get('SELECT * FROM neutron_subnetpools WHERE id = ?', [id])) as PoolRow | undefined;
  if (!r || !canSeePool(req, r)) throw notFoundPool(id);
  return r;
}

// ---- validation (SubnetPoolReader's rules) ----

function parsePrefixes(raw: unknown): { version: IpVersion; prefixes: Cidr[] } {
  if (!Array.isArray(raw)) throw badRequest(`Invalid input for prefixes. Reason: '${JSON.stringify(raw)}' is not a list.`);
  if (!raw.length) throw neutronError(400, 'EmptySubnetPoolPrefixList', 'Empty subnet pool prefix list.');
  const prefixes = raw.map((p) => {
    const c = typeof p === 'string' && p.includes('/') ? parseCidr(p, true) : null;
    if (!c) throw badRequest(`Invalid input for prefixes. Reason: '${p}' is not a valid IP subnet.`);
    return c;
  });
  const version = prefixes[0].version;
  if (prefixes.some((c) => c.version !== version)) throw neutronError(400, 'PrefixVersionMismatch', 'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.');
  return { version, prefixes: compact(version, prefixes) };
}

function nonNegative(r: Record<string, unknown>, key: string): number | undefined {
  const n = intAttr(r, key);
  if (n !== undefined && n < 0) throw badRequest(`Invalid input for ${key}. Reason: '${n}' should be non-negative.`);
  return n;
}

const bounds = (prefixType: string, prefixlen: number, baseType: string, base: number) =>
  neutronError(400, 'IllegalSubnetPoolPrefixBounds', `Illegal prefix bounds: ${prefixType}=${prefixlen}, ${baseType}=${base}.`);

/** min ≤ default ≤ max ≤ the address family's bits. */
function checkBounds(version: IpVersion, min: number, max: number, dflt: number) {
  if (min > max) throw bounds('min_prefixlen', min, 'max_prefixlen', max);
  if (max > BITS[version]) throw bounds('max_prefixlen', max, 'ip_version_max', BITS[version]);
  if (dflt < min) throw bounds('default_prefixlen', dflt, 'min_prefixlen', min);
  if (dflt > max) throw bounds('default_prefixlen', dflt, 'max_prefixlen', max);
}

function checkAddressScope(r: Record<string, unknown>) {
  // No address scopes exist here, so any id is an unknown one.
  if (r.address_scope_id !== undefined && r.address_scope_id !== null) {
    throw neutronError(404, 'AddressScopeNotFound', `Address scope ${r.address_scope_id} could not be found.`);
  }
}

async function checkSingleDefault(t: Tx, version: IpVersion, except: string | null) {
  const other = await t.get('SELECT id FROM neutron_subnetpools WHERE is_default = 1 AND ip_version = ? AND id <> ?', [version, except ?? '']);
  if (other) throw neutronError(400, 'InvalidInput', 'Invalid input for operation: A default subnetpool for this IP family has already been set. Only one default may exist per IP family.');
}

function validTags(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((t) => typeof t !== 'string' || !t || t.length > 255 || t.includes(','))) {
    throw badRequest(`Invalid input for tags. Reason: '${JSON.stringify(raw)}' is not a list of valid tags.`);
  }
  return [...new Set(raw as string[])];
}

async function createPool(ctx: Context, req: FastifyRequest, body: unknown, t: Tx): Promise<string> {
  const r = resourceBody(body, 'subnetpool');
  onlyAttributes(r, ATTRS);
  str(r, 'name'); str(r, 'description');
  if (r.prefixes === undefined) throw badRequest("Failed to parse request. Required attribute 'prefixes' not specified");
  const { version, prefixes } = parsePrefixes(r.prefixes);
  const min = nonNegative(r, 'min_prefixlen') ?? DEFAULT_MIN[version];
  const max = nonNegative(r, 'max_prefixlen') ?? BITS[version];
  const dflt = nonNegative(r, 'default_prefixlen') ?? min;
  checkBounds(version, min, max, dflt);
  const quota = nonNegative(r, 'default_quota') ?? null;
  const shared = boolAttr(r, 'shared') ?? false;
  const isDefault = boolAttr(r, 'is_default') ?? false;
  checkAddressScope(r);
  const tags = validTags(r.tags);
  const project = ownerOf(req, r);
  authorize(ctx, req, 'create_subnetpool', { project_id: project });
  if (r.shared !== undefined && r.shared !== false) authorize(ctx, req, 'create_subnetpool:shared', { project_id: project });
  if (r.is_default !== undefined && r.is_default !== false) authorize(ctx, req, 'create_subnetpool:is_default', { project_id: project });
  const id = uuid();
  const now = nowIso();
  await t.lock('network:subnetpools:default');
  if (isDefault) await checkSingleDefault(t, version, null);
  await t.run(`INSERT INTO neutron_subnetpools (id, project_id, name, description, ip_version, prefixes, default_prefixlen, min_prefixlen,
      max_prefixlen, default_quota, shared, is_default, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    id, project, r.name ?? '', r.description ?? '', version, toJson(prefixes.map(formatCidr)), dflt, min, max, quota,
    shared ? 1 : 0, isDefault ? 1 : 0, now, now,
  ]);
  for (const tag of tags) await t.run('INSERT INTO neutron_tags (resource_type, resource_id, tag) VALUES (?, ?, ?)', ['subnetpools', id, tag]);
  return id;
}

// ---- allocation: what subnets.ts asks when a subnet names a pool ----

/** A subnet create's pool: `subnetpool_id`, or the default pool of the family with `use_default_subnetpool`. */
export async function poolForSubnet(ctx: Context, req: FastifyRequest, r: Record<string, any>): Promise<PoolRow | null> {
  const useDefault = boolAttr(r, 'use_default_subnetpool') ?? false;
  const given = r.subnetpool_id ?? null;
  if (given !== null && typeof given !== 'string') throw badRequest(`Invalid input for subnetpool_id. Reason: '${JSON.stringify(given)}' is not a valid UUID.`);
  if (r.cidr !== undefined && r.prefixlen !== undefined && r.prefixlen !== null) throw badRequest('Bad subnets request: cidr and prefixlen must not be supplied together.');
  if (useDefault && given) throw badRequest('Bad subnets request: subnetpool_id and use_default_subnetpool cannot both be specified.');
  let pool: PoolRow | null = null;
  if (given) pool = await findPool(ctx, req, given);
  else if (useDefault) {
    const c = typeof r.cidr === 'string' ? parseCidr(r.cidr) : null;
    const version = c?.version ?? intAttr(r, 'ip_version');
    if (version === undefined) throw badRequest('Bad subnets request: ip_version must be specified in the absence of cidr and subnetpool_id.');
    const row = (await ctx.db.get('SELECT * FROM neutron_subnetpools WHERE is_default = 1 AND ip_version = ?', [version])) as PoolRow | undefined;
    if (!row || !canSeePool(req, row)) throw badRequest(`Bad subnets request: No default subnetpool found for IPv${version}.`);
    pool = row;
  }
  if (!pool) return null;
  const version = intAttr(r, 'ip_version');
  if (version !== undefined && version !== Number(pool.ip_version)) {
    throw badRequest(`Bad subnets request: Cannot allocate IPv${version} subnet from IPv${pool.ip_version} subnet pool.`);
  }
  if (r.cidr === undefined && r.allocation_pools !== undefined) throw badRequest('Bad subnets request: allocation_pools allowed only for specific subnet requests.');
  return pool;
}

/** Subnets of one family on a network all come from one pool, or all from none (Neutron's affinity rule). */
export async function checkPoolAffinity(t: Tx, networkId: string, version: number, poolId: string | null) {
  for (const s of await t.all('SELECT subnetpool_id FROM neutron_subnets WHERE network_id = ? AND ip_version = ?', [networkId, version])) {
    if ((s.subnetpool_id ?? null) !== poolId) throw neutronError(400, 'NetworkSubnetPoolAffinityError', 'Subnets hosted on the same network must be allocated from the same subnet pool.');
  }
}

/**
 * Takes a prefix from the pool for a subnet of `project` on `networkId`, in the subnet's
 * transaction: `cidr` (a specific request, must lie in free pool space) or a block of
 * `prefixlen` (default: the pool's default_prefixlen). 400/409 as Neutron.
 */
export async function allocateFromPool(t: Tx, poolId: string, project: string, networkId: string, want: { cidr?: Cidr; prefixlen?: number }): Promise<Cidr> {
  await t.lock(`network:subnetpool:${poolId}`);
  const pool = (await t.get('SELECT * FROM neutron_subnetpools WHERE id = ?', [poolId])) as PoolRow | undefined;
  if (!pool) throw notFoundPool(poolId); // deleted meanwhile
  const version = Number(pool.ip_version) as IpVersion;
  const prefixlen = want.cidr?.prefix ?? want.prefixlen ?? Number(pool.default_prefixlen);
  if (want.cidr && want.cidr.version !== version) throw badRequest(`Bad subnets request: Cannot allocate IPv${want.cidr.version} subnet from IPv${version} subnet pool.`);
  if (prefixlen > Number(pool.max_prefixlen)) {
    throw neutronError(400, 'MaxPrefixSubnetAllocationError', `Unable to allocate subnet with prefix length ${prefixlen}, maximum allowed prefix is ${pool.max_prefixlen}.`);
  }
  if (prefixlen < Number(pool.min_prefixlen)) {
    throw neutronError(400, 'MinPrefixSubnetAllocationError', `Unable to allocate subnet with prefix length ${prefixlen}, minimum allowed prefix is ${pool.min_prefixlen}.`);
  }
  await checkPoolAffinity(t, networkId, version, poolId);
  const used = (await t.all('SELECT cidr, project_id FROM neutron_subnets WHERE subnetpool_id = ?', [poolId])).map((s) => ({ c: parseCidr(s.cidr)!, project: s.project_id as string }));
  if (pool.default_quota !== null && pool.default_quota !== undefined) {
    const unit = QUOTA_UNIT[version];
    const units = (p: number) => (p >= unit ? 1n : 1n << BigInt(unit - p));
    const mine = used.filter((u) => u.project === project).reduce((n, u) => n + units(u.c.prefix), 0n);
    if (mine + units(prefixlen) > BigInt(pool.default_quota)) throw neutronError(409, 'SubnetPoolQuotaExceeded', 'Per-project subnet pool prefix quota exceeded.');
  }
  const free = freeBlocks(version, prefixesOf(pool), used.map((u) => u.c));
  if (want.cidr) {
    const c = want.cidr;
    if (free.some((b) => b.prefix <= c.prefix && c.network >= b.network && lastIp(c) <= lastIp(b))) return c;
    // Upstream Neutron answers these with a 500; a full pool is a conflict with its state.
    throw neutronError(409, 'SubnetAllocationError', 'Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes.');
  }
  const block = free.find((b) => b.prefix <= prefixlen);
  if (!block) throw neutronError(409, 'SubnetAllocationError', `Failed to allocate subnet: Insufficient prefix space to allocate subnet size /${prefixlen}.`);
  return { version, network: block.network, prefix: prefixlen, size: 1n << BigInt(BITS[version] - prefixlen) };
}

export const subnetpools: NetworkPart = {
  migrations: [{
    id: 'network-120-subnetpools',
    sql: `CREATE TABLE neutron_subnetpools (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT '',
      description TEXT NOT NULL DEFAULT '',
      ip_version INTEGER NOT NULL,
      prefixes TEXT NOT NULL,
      default_prefixlen INTEGER NOT NULL,
      min_prefixlen INTEGER NOT NULL,
      max_prefixlen INTEGER NOT NULL,
      default_quota BIGINT,
      shared INTEGER NOT NULL DEFAULT 0,
      is_default INTEGER NOT NULL DEFAULT 0,
      revision_number INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
    CREATE INDEX neutron_subnets_subnetpool ON neutron_subnets (subnetpool_id)`,
  }],
  extensions: [
    { alias: 'subnet_allocation', name: 'Subnet Allocation', description: 'Enables allocation of subnets from a subnet pool', updated: '2015-03-30T10:00:00-00:00' },
    { alias: 'default-subnetpools', name: 'Default Subnetpools', description: 'Provides ability to mark and use a subnetpool as the default.', updated: '2016-02-18T18:00:00-00:00' },
  ],
  async init() {
    TAGGABLE.set('subnetpools', { find: findPool, table: 'neutron_subnetpools' });
  },
  async routes(app: FastifyInstance, ctx: Context) {
    const viewOf = async (id: string) => (await poolViews(ctx.db, [(await ctx.db.get('SELECT * FROM neutron_subnetpools WHERE id = ?', [id])) as PoolRow]))[0];

    app.post('/subnetpools', async (req, reply) => {
      const body = req.body as any;
      if (body && Array.isArray(body.subnetpools)) {
        const ids = await ctx.db.tx(async (t) => {
          const out: string[] = [];
          for (const p of body.subnetpools) out.push(await createPool(ctx, req, { subnetpool: p }, t));
          return out;
        });
        reply.code(201);
        return { subnetpools: await Promise.all(ids.map(viewOf)) };
      }
      const id = await ctx.db.tx((t) => createPool(ctx, req, body, t));
      reply.code(201);
      return { subnetpool: await viewOf(id) };
    });

    app.get('/subnetpools', async (req) => {
      const a = req.auth!;
      const rows = isAdmin(a)
        ? await ctx.db.all('SELECT * FROM neutron_subnetpools')
        : await ctx.db.all('SELECT * FROM neutron_subnetpools WHERE project_id = ? OR shared = 1', [a.projectId ?? '']);
      return listResponse('subnetpools', await poolViews(ctx.db, rows as PoolRow[]), queryOf(req), collectionUrl(ctx, 'subnetpools'), { custom: TAG_FILTERS });
    });

    app.get<{ Params: { id: string } }>('/subnetpools/:id', async (req) => {
      const r = await findPool(ctx, req, req.params.id);
      // A shared pool is readable by every project (Neutron's shared_subnetpools rule); visibility was decided above.
      authorize(ctx, req, 'get_subnetpool', bool(r.shared) ? { ...r, project_id: req.auth!.projectId } : r);
      const [v] = await poolViews(ctx.db, [r]);
      return { subnetpool: showFields(v, queryOf(req)) };
    });

    app.put<{ Params: { id: string } }>('/subnetpools/:id', async (req) => {
      const r = resourceBody(req.body, 'subnetpool');
      onlyAttributes(r, ATTRS);
      for (const k of ['tenant_id', 'project_id', 'shared', 'tags']) if (k in r) throw badRequest(`Cannot update read-only attribute ${k}`);
      str(r, 'name'); str(r, 'description');
      checkAddressScope(r);
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findPool(ctx, req, id, t);
        authorize(ctx, req, 'update_subnetpool', cur);
        if (!isAdmin(req.auth!) && cur.project_id !== req.auth!.projectId) throw neutronError(403, 'PolicyNotAuthorized', '(rule:update_subnetpool) is disallowed by policy');
        if ('is_default' in r) authorize(ctx, req, 'update_subnetpool:is_default', cur);
        checkRevision(req, Number(cur.revision_number));
        await t.lock(`network:subnetpool:${id}`);
        const version = Number(cur.ip_version) as IpVersion;
        let prefixes = prefixesOf(cur);
        if (r.prefixes !== undefined) {
          const next = parsePrefixes(r.prefixes);
          if (next.version !== version) throw neutronError(400, 'PrefixVersionMismatch', 'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.');
          // Prefixes only grow: every old address stays in the pool.
          if (subtract(merge(prefixes.map(toRange)), merge(next.prefixes.map(toRange))).length) {
            throw neutronError(400, 'IllegalSubnetPoolPrefixUpdate', 'Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.');
          }
          prefixes = next.prefixes;
        }
        const min = nonNegative(r, 'min_prefixlen') ?? Number(cur.min_prefixlen);
        const max = nonNegative(r, 'max_prefixlen') ?? Number(cur.max_prefixlen);
        const dflt = nonNegative(r, 'default_prefixlen') ?? Number(cur.default_prefixlen);
        checkBounds(version, min, max, dflt);
        const set: Record<string, unknown> = { prefixes: toJson(prefixes.map(formatCidr)), min_prefixlen: min, max_prefixlen: max, default_prefixlen: dflt };
        if ('default_quota' in r) set.default_quota = nonNegative(r, 'default_quota') ?? null;
        if ('name' in r) set.name = r.name;
        if ('description' in r) set.description = r.description;
        if ('is_default' in r) {
          const d = boolAttr(r, 'is_default')!;
          await t.lock('network:subnetpools:default');
          if (d && !bool(cur.is_default)) await checkSingleDefault(t, version, id);
          set.is_default = d ? 1 : 0;
        }
        const keys = Object.keys(set);
        await t.run(`UPDATE neutron_subnetpools SET ${keys.map((k) => `${k} = ?`).join(', ')}, revision_number = revision_number + 1, updated_at = ? WHERE id = ?`,
          [...keys.map((k) => set[k] as any), nowIso(), id]);
      });
      return { subnetpool: await viewOf(id) };
    });

    app.delete<{ Params: { id: string } }>('/subnetpools/:id', async (req, reply) => {
      const id = req.params.id;
      await ctx.db.tx(async (t) => {
        const cur = await findPool(ctx, req, id, t);
        authorize(ctx, req, 'delete_subnetpool', cur);
        if (!isAdmin(req.auth!) && cur.project_id !== req.auth!.projectId) throw neutronError(403, 'PolicyNotAuthorized', '(rule:delete_subnetpool) is disallowed by policy');
        checkRevision(req, Number(cur.revision_number));
        await t.lock(`network:subnetpool:${id}`);
        // Neutron's own answer here is SubnetPoolDeleteError, a 400.
        if (await t.get('SELECT 1 FROM neutron_subnets WHERE subnetpool_id = ?', [id])) {
          throw neutronError(400, 'SubnetPoolDeleteError', 'Unable to delete subnet pool: Subnet pool has existing allocations.');
        }
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'subnetpools' AND resource_id = ?", [id]);
        await t.run('DELETE FROM neutron_subnetpools WHERE id = ?', [id]);
      });
      reply.code(204);
    });
  },
};
