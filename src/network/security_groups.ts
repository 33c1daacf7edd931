// Security groups and their rules, validated as Neutron validates them, with the project's
// `default` group (egress anywhere, ingress from members of the group) made on first use. Ports
// reach their groups through the hook in ports.ts; Nova through novaHooks.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/service.ts';
import type { Queryable, Tx } from '../core/db/index.ts';
import { bool, isUniqueViolation } from '../core/db/index.ts';
import { ApiError, badRequest, forbidden, notFound } from '../core/errors.ts';
import type { AuthContext } from '../core/auth.ts';
import type { NetworkApi, SecurityGroupInfo } from './api.ts';
import { uuid, nowIso } from '../core/ids.ts';
import type { NetworkPart } from './index.ts';
import { neutronTime } from './db.ts';
import {
  authorize, checkRevision, collectionUrl, intAttr, isAdmin, neutronError, onlyAttributes, ownerOf, resourceBody, str,
  tagsOf, TAG_FILTERS,
} from './common.ts';
import { listResponse, queryOf, showFields } from './query.ts';
import { enforceQuota, registerQuotaResource } from './quotas.ts';
import { securityGroupHook } from './ports.ts';
import { novaHooks } from './nova.ts';
import { formatCidr, parseCidr } from './ip.ts';
import { TAGGABLE } from './tags.ts';

const PROTOCOLS: Record<string, number> = {
  ah: 51, dccp: 33, egp: 8, esp: 50, gre: 47, hopopt: 0, icmp: 1, igmp: 2, ipip: 4, 'ipv6-encap': 41, 'ipv6-frag': 44,
  'ipv6-icmp': 58, icmpv6: 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, 'ipv6-route': 43, ospf: 89, pgm: 113, rsvp: 46, sctp: 132,
  tcp: 6, udp: 17, udplite: 136, vrrp: 112,
};
const PORT_PROTOCOLS = [6, 17, 33, 132, 136];
const ICMP_PROTOCOLS = [1, 58];
const SG_ATTRS = ['name', 'description', 'tenant_id', 'project_id', 'stateful', 'tags'];
const RULE_ATTRS = ['security_group_id', 'direction', 'ethertype', 'protocol', 'port_range_min', 'port_range_max', 'remote_ip_prefix',
  'remote_group_id', 'remote_address_group_id', 'description', 'tenant_id', 'project_id'];

const sgNotFound = (id: string) => neutronError(404, 'SecurityGroupNotFound', `Security group ${id} does not exist`);
const ruleNotFound = (id: string) => neutronError(404, 'SecurityGroupRuleNotFound', `Security group rule ${id} does not exist`);

registerQuotaResource('security_group', 10, 'SELECT COUNT(*) AS n FROM neutron_security_groups WHERE project_id = ?');
registerQuotaResource('security_group_rule', 100, 'SELECT COUNT(*) AS n FROM neutron_security_group_rules WHERE project_id = ?');

interface Rule {
  direction: string; ethertype: string; protocol: string | null; port_range_min: number | null; port_range_max: number | null;
  remote_ip_prefix: string | null; remote_group_id: string | null; description: string;
}

async function insertRule(t: Tx, project: string, sg: string, r: Rule) {
  const id = uuid(), now = nowIso();
  await t.run(`INSERT INTO neutron_security_group_rules (id, project_id, security_group_id, direction, ethertype, protocol, port_range_min,
      port_range_max, remote_ip_prefix, remote_group_id, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  [id, project, sg, r.direction, r.ethertype, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix, r.remote_group_id, r.description, now, now]);
  return id;
}

async function createGroup(t: Tx, project: string, name: string, description: string, isDefault: boolean): Promise<string> {
  const id = uuid(), now = nowIso();
  await t.run(`INSERT INTO neutron_security_groups (id, project_id, name, description, is_default, default_project, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [id, project, name, description, isDefault ? 1 : 0, isDefault ? project : null, now, now]);
  // Every group lets traffic out; the default group also lets its members talk to each other.
  for (const ethertype of ['IPv4', 'IPv6']) {
    const base = { ethertype, protocol: null, port_range_min: null, port_range_max: null, remote_ip_prefix: null, description: '' };
    await insertRule(t, project, id, { ...base, direction: 'egress', remote_group_id: null });
    if (isDefault) await insertRule(t, project, id, { ...base, direction: 'ingress', remote_group_id: id });
  }
  return id;
}

/** The project's default group, made on first use (a unique index keeps it single under races). */
export async function ensureDefaultSecurityGroup(t: Tx, project: string): Promise<string> {
  const have = await t.get('SELECT id FROM neutron_security_groups WHERE default_project = ?', [project]);
  if (have) return have.id;
  await t.lock(`network:default-sg:${project}`);
  const again = await t.get('SELECT id FROM neutron_security_groups WHERE default_project = ?', [project]);
  if (again) return again.id;
  return createGroup(t, project, 'default', 'Default security group', true);
}

/** Names or ids of the project's groups → ids (undefined → the default group). */
export async function resolveSecurityGroups(t: Tx, project: string, requested: string[] | undefined): Promise<string[]> {
  if (requested === undefined) return [await ensureDefaultSecurityGroup(t, project)];
  const out: string[] = [];
  for (const g of requested) {
    if (g === 'default') { out.push(await ensureDefaultSecurityGroup(t, project)); continue; }
    const byId = await t.get('SELECT id, project_id FROM neutron_security_groups WHERE id = ?', [g]);
    if (byId && byId.project_id === project) { out.push(byId.id); continue; }
    const byName = await t.all('SELECT id FROM neutron_security_groups WHERE name = ? AND project_id = ?', [g, project]);
    if (byName.length > 1) throw neutronError(409, 'DuplicateSecurityGroupName', `Multiple security_group matches found for name '${g}', use an ID to be more specific.`);
    if (!byName.length) throw sgNotFound(g);
    out.push(byName[0].id);
  }
  return [...new Set(out)];
}

async function ruleViews(q: Queryable, rows: any[]) {
  return rows.map((r) => ({
    id: r.id, tenant_id: r.project_id, project_id: r.project_id, security_group_id: r.security_group_id, direction: r.direction,
    ethertype: r.ethertype, protocol: r.protocol, port_range_min: r.port_range_min === null ? null : Number(r.port_range_min),
    port_range_max: r.port_range_max === null ? null : Number(r.port_range_max), remote_ip_prefix: r.remote_ip_prefix,
    remote_group_id: r.remote_group_id, remote_address_group_id: null,
    normalized_cidr: r.remote_ip_prefix ? formatCidr(parseCidr(r.remote_ip_prefix)!) : null, description: r.description,
    created_at: neutronTime(r.created_at), updated_at: neutronTime(r.updated_at), revision_number: Number(r.revision_number),
    belongs_to_default_sg: bool(r.is_default),
  }));
}

async function groupViews(q: Queryable, rows: any[]) {
  const ids = rows.map((r) => r.id);
  const rules = new Map<string, any[]>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    if (!chunk.length) break;
    const rr = await q.all(`SELECT r.*, g.is_default FROM neutron_security_group_rules r JOIN neutron_security_groups g ON g.id = r.security_group_id WHERE r.security_group_id IN (${chunk.map(() => '?').join(',')}) ORDER BY r.created_at, r.id`, chunk);
    for (const v of await ruleViews(q, rr)) rules.set(v.security_group_id, [...(rules.get(v.security_group_id) ?? []), v]);
  }
  const tags = await tagsOf(q, 'security-groups', ids);
  return rows.map((r) => ({
    id: r.id, name: r.name, description: r.description, tenant_id: r.project_id, project_id: r.project_id, stateful: true, shared: false,
    security_group_rules: rules.get(r.id) ?? [], tags: tags.get(r.id) ?? [], created_at: neutronTime(r.created_at),
    updated_at: neutronTime(r.updated_at), revision_number: Number(r.revision_number),
  }));
}

export async function findGroup(ctx: Context, req: FastifyRequest, id: string, q: Queryable = ctx.db) {
  const r = await q.get('SELECT * FROM neutron_security_groups WHERE id = ?', [id]);
  if (!r || !(isAdmin(req.auth!) || r.project_id === req.auth!.projectId)) throw sgNotFound(id);
  return r;
}

function parseRule(r: Record<string, any>): Rule {
  if (r.direction !== 'ingress' && r.direction !== 'egress') throw badRequest(`Invalid input for direction. Reason: ${JSON.stringify(r.direction)} is not in ['ingress', 'egress'].`);
  const ethertype = r.ethertype ?? 'IPv4';
  if (ethertype !== 'IPv4' && ethertype !== 'IPv6') throw badRequest(`Invalid input for ethertype. Reason: ${JSON.stringify(ethertype)} is not in ['IPv4', 'IPv6'].`);
  let protocol: string | null = r.protocol ?? null;
  let protoNum: number | null = null;
  if (protocol !== null) {
    if (typeof protocol === 'number') protocol = String(protocol);
    if (typeof protocol !== 'string') throw neutronError(400, 'SecurityGroupRuleInvalidProtocol', `Security group rule protocol ${JSON.stringify(r.protocol)} not supported. Only protocol values ${JSON.stringify(Object.keys(PROTOCOLS))} and integer representations [0 to 255] are supported.`);
    const lower = protocol.toLowerCase();
    if (lower === 'any' || lower === '') protocol = null;
    else if (lower in PROTOCOLS) { protocol = lower; protoNum = PROTOCOLS[lower]; }
    else if (/^\d+$/.test(protocol) && Number(protocol) <= 255) protoNum = Number(protocol);
    else throw neutronError(400, 'SecurityGroupRuleInvalidProtocol', `Security group rule protocol ${protocol} not supported. Only protocol values ${JSON.stringify(Object.keys(PROTOCOLS))} and integer representations [0 to 255] are supported.`);
  }
  const min = intAttr(r, 'port_range_min') ?? null;
  const max = intAttr(r, 'port_range_max') ?? null;
  if ((min !== null || max !== null) && protocol === null) throw neutronError(400, 'SecurityGroupProtocolRequiredWithPorts', 'Must also specify protocol if port range is given.');
  if (protoNum !== null && PORT_PROTOCOLS.includes(protoNum)) {
    for (const v of [min, max]) {
      if (v !== null && (v < 1 || v > 65535)) throw neutronError(400, 'SecurityGroupInvalidPortValue', `Invalid value for port ${v}`);
    }
    if ((min === null && max !== null) || (min !== null && max !== null && min > max)) {
      throw neutronError(400, 'SecurityGroupInvalidPortRange', 'For TCP/UDP protocols, port_range_min must be <= port_range_max');
    }
  } else if (protoNum !== null && ICMP_PROTOCOLS.includes(protoNum)) {
    if (min !== null && (min < 0 || min > 255)) throw neutronError(400, 'SecurityGroupInvalidIcmpValue', `Invalid value for ICMP type (port_range_min) ${min}. It must be 0 to 255.`);
    if (max !== null && (max < 0 || max > 255)) throw neutronError(400, 'SecurityGroupInvalidIcmpValue', `Invalid value for ICMP code (port_range_max) ${max}. It must be 0 to 255.`);
    if (min === null && max !== null) throw neutronError(400, 'SecurityGroupMissingIcmpType', `ICMP code (port-range-max) ${max} is provided but ICMP type (port-range-min) is missing.`);
  } else if (min !== null || max !== null) {
    throw neutronError(400, 'SecurityGroupInvalidProtocolForPortRange', `Invalid protocol ${protocol} for port range, only supported for TCP, UDP, UDPLITE, SCTP, DCCP and ICMP protocols`);
  }
  let prefix: string | null = null;
  if (r.remote_ip_prefix !== undefined && r.remote_ip_prefix !== null) {
    const c = typeof r.remote_ip_prefix === 'string' ? parseCidr(r.remote_ip_prefix) : null;
    if (!c) throw badRequest(`Invalid input for remote_ip_prefix. Reason: '${r.remote_ip_prefix}' is not a valid IP subnet.`);
    if ((c.version === 4) !== (ethertype === 'IPv4')) throw neutronError(400, 'SecurityGroupRuleParameterConflict', `Conflicting value ethertype ${ethertype} for CIDR ${r.remote_ip_prefix}`);
    // Kept as given (Neutron does); normalized_cidr shows the network it means.
    prefix = r.remote_ip_prefix.trim();
  }
  if (prefix !== null && r.remote_group_id) throw neutronError(400, 'SecurityGroupRemoteGroupAndRemoteIpPrefix', 'Only remote_ip_prefix or remote_group_id may be provided.');
  if (r.remote_group_id !== undefined && r.remote_group_id !== null && typeof r.remote_group_id !== 'string') throw badRequest('Invalid input for remote_group_id.');
  const description = str(r, 'description') ?? '';
  return { direction: r.direction, ethertype, protocol, port_range_min: min, port_range_max: max, remote_ip_prefix: prefix, remote_group_id: r.remote_group_id ?? null, description };
}

/** Nova's error for a Neutron one: same status and message, in Nova's format (no Neutron type). */
const asNova = (e: unknown, conflictStatus = 400) => {
  if (!(e instanceof ApiError)) return e;
  return new ApiError(e.status === 409 ? conflictStatus : e.status === 412 ? 400 : e.status, e.message);
};

type SecurityGroupProxy = Required<Pick<NetworkApi, 'listSecurityGroupsFor' | 'getSecurityGroup' | 'createSecurityGroup' | 'updateSecurityGroup'
  | 'deleteSecurityGroup' | 'createSecurityGroupRule' | 'deleteSecurityGroupRule'>>;

/**
 * What Nova's deprecated os-security-groups proxy (below 2.36) needs, as nova/network/
 * security_group_api.py does it over Neutron: the caller's project only, Nova's checks first
 * (blank names, rules that already exist), Neutron's conflicts as 400s.
 */
function securityGroupProxy(ctx: Context): SecurityGroupProxy {
  const db = ctx.db;
  const info = async (q: Queryable, rows: any[]): Promise<SecurityGroupInfo[]> => (await groupViews(q, rows)).map((g) => ({
    id: g.id, name: g.name, description: g.description, projectId: g.project_id,
    rules: g.security_group_rules.map((r: any) => ({
      id: r.id, securityGroupId: r.security_group_id, direction: r.direction, ethertype: r.ethertype, protocol: r.protocol,
      portRangeMin: r.port_range_min, portRangeMax: r.port_range_max, remoteIpPrefix: r.remote_ip_prefix, remoteGroupId: r.remote_group_id,
    })),
  }));
  const visible = (auth: AuthContext, g: any): boolean => !!g && (auth.roles.includes('admin') || g.project_id === auth.projectId);
  const find = async (q: Queryable, auth: AuthContext, id: string): Promise<any> => {
    const g = await q.get('SELECT * FROM neutron_security_groups WHERE id = ?', [id]);
    if (!visible(auth, g)) throw notFound(`Security group ${id} not found.`);
    return g;
  };
  const checkName = (name: string, description: string) => {
    if (!name.trim()) throw badRequest('Security group name cannot be empty.');
    if (name.length > 255) throw badRequest('Security group name should not be greater than 255 characters.');
    if (description.length > 255) throw badRequest('Security group description should not be greater than 255 characters.');
  };
  return {
    async listSecurityGroupsFor(auth, projectId) {
      if (projectId) await db.tx((t) => ensureDefaultSecurityGroup(t, projectId));
      return info(db, await db.all('SELECT * FROM neutron_security_groups WHERE project_id = ? ORDER BY created_at, id', [projectId]));
    },
    async getSecurityGroup(auth, id) {
      const g = await db.get('SELECT * FROM neutron_security_groups WHERE id = ?', [id]);
      return visible(auth, g) ? (await info(db, [g]))[0] : null;
    },
    async createSecurityGroup(auth, projectId, name, description) {
      checkName(name, description);
      ctx.policy.authorize('create_security_group', auth, { project_id: projectId, tenant_id: projectId });
      const id = await db.tx(async (t) => {
        await ensureDefaultSecurityGroup(t, projectId);
        if (name === 'default') throw badRequest('Default security group already exists.');
        try {
          await enforceQuota(t, projectId, 'security_group', 1);
        } catch (e) { throw e instanceof ApiError && e.status === 409 ? forbidden('Quota exceeded, too many security groups.') : e; }
        return createGroup(t, projectId, name, description, false);
      });
      return (await info(db, [await db.get('SELECT * FROM neutron_security_groups WHERE id = ?', [id])]))[0];
    },
    async updateSecurityGroup(auth, id, name, description) {
      checkName(name, description);
      await db.tx(async (t) => {
        const g = await find(t, auth, id);
        ctx.policy.authorize('update_security_group', auth, { project_id: g.project_id, tenant_id: g.project_id });
        if (bool(g.is_default) && name !== 'default') throw badRequest('Updating default security group not allowed.');
        if (!bool(g.is_default) && name === 'default') throw badRequest('Default security group already exists.');
        await t.run('UPDATE neutron_security_groups SET name = ?, description = ?, revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [name, description, nowIso(), id]);
      });
      return (await info(db, [await db.get('SELECT * FROM neutron_security_groups WHERE id = ?', [id])]))[0];
    },
    async deleteSecurityGroup(auth, id) {
      await db.tx(async (t) => {
        const g = await find(t, auth, id);
        ctx.policy.authorize('delete_security_group', auth, { project_id: g.project_id, tenant_id: g.project_id });
        if (bool(g.is_default)) throw badRequest('Removing default security group not allowed.');
        if (await t.get('SELECT id FROM neutron_ports WHERE security_groups LIKE ?', [`%"${g.id}"%`])) throw badRequest(`Security group ${g.id} is in use.`);
        await t.run('DELETE FROM neutron_security_group_rules WHERE security_group_id = ? OR remote_group_id = ?', [g.id, g.id]);
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'security-groups' AND resource_id = ?", [g.id]);
        await t.run('DELETE FROM neutron_security_groups WHERE id = ?', [g.id]);
      });
    },
    async createSecurityGroupRule(auth, r) {
      let rule: Rule;
      try {
        rule = parseRule({
          direction: r.direction, ethertype: r.ethertype, protocol: r.protocol, port_range_min: r.portRangeMin, port_range_max: r.portRangeMax,
          remote_ip_prefix: r.remoteIpPrefix, remote_group_id: r.remoteGroupId,
        });
      } catch (e) { throw asNova(e); }
      const id = await db.tx(async (t) => {
        const g = await find(t, auth, r.securityGroupId);
        ctx.policy.authorize('create_security_group_rule', auth, { project_id: g.project_id, tenant_id: g.project_id });
        if (rule.remote_group_id) await find(t, auth, rule.remote_group_id);
        await t.lock(`network:sg:${g.id}`);
        const key = ruleKey(rule);
        if ((await t.all('SELECT * FROM neutron_security_group_rules WHERE security_group_id = ?', [g.id])).some((x) => ruleKey(x) === key)) {
          throw badRequest('This rule already exists in group');
        }
        try {
          await enforceQuota(t, g.project_id, 'security_group_rule', 1);
        } catch (e) { throw e instanceof ApiError && e.status === 409 ? forbidden('Quota exceeded, too many security group rules.') : e; }
        const rid = await insertRule(t, g.project_id, g.id, rule);
        await t.run('UPDATE neutron_security_groups SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [nowIso(), g.id]);
        return rid;
      });
      return { ...r, id, protocol: rule.protocol, portRangeMin: rule.port_range_min, portRangeMax: rule.port_range_max, remoteIpPrefix: rule.remote_ip_prefix };
    },
    async deleteSecurityGroupRule(auth, id) {
      await db.tx(async (t) => {
        const r: any = await t.get('SELECT r.id, r.security_group_id, g.project_id FROM neutron_security_group_rules r JOIN neutron_security_groups g ON g.id = r.security_group_id WHERE r.id = ?', [id]);
        if (!visible(auth, r)) throw notFound(`Security group rule ${id} could not be found.`);
        ctx.policy.authorize('delete_security_group_rule', auth, { project_id: r.project_id, tenant_id: r.project_id });
        await t.run('DELETE FROM neutron_security_group_rules WHERE id = ?', [id]);
        await t.run('UPDATE neutron_security_groups SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [nowIso(), r.security_group_id]);
      });
    },
  };
}

/**
 * What makes two rules the same rule (Neutron's duplicate check): protocols compared by number
 * (ICMP of IPv6 by any name), "anywhere" prefixes as no prefix.
 */
function ruleKey(r: Rule | Record<string, any>): string {
  let proto = r.protocol === null ? '' : String(PROTOCOLS[r.protocol] ?? r.protocol);
  if (r.ethertype === 'IPv6' && proto === '1') proto = '58';
  const cidr = r.remote_ip_prefix ? formatCidr(parseCidr(r.remote_ip_prefix)!) : null;
  const prefix = cidr === '0.0.0.0/0' || cidr === '::/0' ? null : cidr;
  return JSON.stringify([r.direction, r.ethertype, proto, r.port_range_min ?? null, r.port_range_max ?? null, prefix, r.remote_group_id ?? null]);
}

export const securityGroups: NetworkPart = {
  migrations: [{
    id: 'network-100-security-groups',
    sql: [
      `CREATE TABLE neutron_security_groups (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        is_default INTEGER NOT NULL DEFAULT 0,
        default_project TEXT UNIQUE,
        revision_number INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      `CREATE INDEX neutron_security_groups_project ON neutron_security_groups (project_id)`,
      `CREATE TABLE neutron_security_group_rules (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        security_group_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        ethertype TEXT NOT NULL,
        protocol TEXT,
        port_range_min INTEGER,
        port_range_max INTEGER,
        remote_ip_prefix TEXT,
        remote_group_id TEXT,
        description TEXT NOT NULL DEFAULT '',
        revision_number INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      `CREATE INDEX neutron_sg_rules_group ON neutron_security_group_rules (security_group_id)`,
    ].join(';\n'),
  }],
  extensions: [
    { alias: 'security-group', name: 'security-group', description: 'The security groups extension.', updated: '2012-10-05T10:00:00-00:00' },
    { alias: 'stateful-security-group', name: 'Stateful security group', description: 'Indicates if the security group is stateful or not', updated: '2019-11-26T09:00:00-00:00' },
  ],
  async init(ctx) {
    securityGroupHook.resolve = resolveSecurityGroups;
    novaHooks.securityGroupProxy = securityGroupProxy(ctx);
    TAGGABLE.set('security-groups', { find: findGroup, table: 'neutron_security_groups' });
    novaHooks.groupsOf = async (q, ids) => {
      const out = new Map<string, { id: string; name: string }>();
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        if (!chunk.length) break;
        for (const g of await q.all(`SELECT id, name FROM neutron_security_groups WHERE id IN (${chunk.map(() => '?').join(',')})`, chunk)) out.set(g.id, { id: g.id, name: g.name });
      }
      return out;
    };
    void ctx;
  },
  async routes(app: FastifyInstance, ctx: Context) {
    const one = async (id: string) => (await groupViews(ctx.db, [await ctx.db.get('SELECT * FROM neutron_security_groups WHERE id = ?', [id])]))[0];

    app.post('/security-groups', async (req, reply) => {
      const r = resourceBody(req.body, 'security_group');
      onlyAttributes(r, SG_ATTRS);
      const name = str(r, 'name') ?? '';
      const description = str(r, 'description') ?? '';
      const project = ownerOf(req, r);
      authorize(ctx, req, 'create_security_group', { project_id: project });
      const id = await ctx.db.tx(async (t) => {
        await ensureDefaultSecurityGroup(t, project);
        if (name === 'default') throw neutronError(409, 'SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
        await enforceQuota(t, project, 'security_group', 1);
        return createGroup(t, project, name, description, false);
      });
      reply.code(201);
      return { security_group: await one(id) };
    });

    app.get('/security-groups', async (req) => {
      const auth = req.auth!;
      // Listing is a first use: the caller's project gets its default group.
      if (auth.projectId) await ctx.db.tx((t) => ensureDefaultSecurityGroup(t, auth.projectId!));
      const rows = isAdmin(auth) ? await ctx.db.all('SELECT * FROM neutron_security_groups') : await ctx.db.all('SELECT * FROM neutron_security_groups WHERE project_id = ?', [auth.projectId ?? '']);
      return listResponse('security_groups', await groupViews(ctx.db, rows), queryOf(req), collectionUrl(ctx, 'security-groups'), { custom: TAG_FILTERS });
    });

    app.get<{ Params: { id: string } }>('/security-groups/:id', async (req) => {
      const g = await findGroup(ctx, req, req.params.id);
      authorize(ctx, req, 'get_security_group', g);
      return { security_group: showFields((await groupViews(ctx.db, [g]))[0], queryOf(req)) };
    });

    app.put<{ Params: { id: string } }>('/security-groups/:id', async (req) => {
      const r = resourceBody(req.body, 'security_group');
      onlyAttributes(r, SG_ATTRS);
      for (const k of ['tenant_id', 'project_id']) if (k in r) throw badRequest(`Cannot update read-only attribute ${k}`);
      const name = str(r, 'name');
      const description = str(r, 'description');
      await ctx.db.tx(async (t) => {
        const g = await findGroup(ctx, req, req.params.id, t);
        authorize(ctx, req, 'update_security_group', g);
        checkRevision(req, Number(g.revision_number));
        if (bool(g.is_default) && name !== undefined && name !== 'default') throw neutronError(409, 'SecurityGroupCannotUpdateDefault', 'Updating default security group not allowed.');
        if (!bool(g.is_default) && name === 'default') throw neutronError(409, 'SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
        await t.run('UPDATE neutron_security_groups SET name = ?, description = ?, revision_number = revision_number + 1, updated_at = ? WHERE id = ?',
          [name ?? g.name, description ?? g.description, nowIso(), g.id]);
      });
      return { security_group: await one(req.params.id) };
    });

    app.delete<{ Params: { id: string } }>('/security-groups/:id', async (req, reply) => {
      await ctx.db.tx(async (t) => {
        const g = await findGroup(ctx, req, req.params.id, t);
        authorize(ctx, req, 'delete_security_group', g);
        checkRevision(req, Number(g.revision_number));
        if (bool(g.is_default) && !isAdmin(req.auth!)) throw neutronError(409, 'SecurityGroupCannotRemoveDefault', 'Insufficient rights for removing default security group.');
        const used = await t.get("SELECT id FROM neutron_ports WHERE security_groups LIKE ?", [`%"${g.id}"%`]);
        if (used) throw neutronError(409, 'SecurityGroupInUse', `Security Group ${g.id} in use.`);
        await t.run('DELETE FROM neutron_security_group_rules WHERE security_group_id = ? OR remote_group_id = ?', [g.id, g.id]);
        await t.run("DELETE FROM neutron_tags WHERE resource_type = 'security-groups' AND resource_id = ?", [g.id]);
        await t.run('DELETE FROM neutron_security_groups WHERE id = ?', [g.id]);
      });
      reply.code(204);
    });

    app.post('/security-group-rules', async (req, reply) => {
      const r = resourceBody(req.body, 'security_group_rule');
      onlyAttributes(r, RULE_ATTRS);
      if (typeof r.security_group_id !== 'string') throw badRequest("Invalid input for operation: 'security_group_id' must be specified.");
      const rule = parseRule(r);
      const id = await ctx.db.tx(async (t) => {
        const g = await findGroup(ctx, req, r.security_group_id, t);
        authorize(ctx, req, 'create_security_group_rule', g);
        if (rule.remote_group_id) {
          const rg = await t.get('SELECT project_id FROM neutron_security_groups WHERE id = ?', [rule.remote_group_id]);
          if (!rg) throw sgNotFound(rule.remote_group_id);
        }
        await t.lock(`network:sg:${g.id}`);
        const key = ruleKey(rule);
        const dup = (await t.all('SELECT * FROM neutron_security_group_rules WHERE security_group_id = ?', [g.id])).find((x) => ruleKey(x) === key);
        if (dup) throw neutronError(409, 'SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${dup.id}.`);
        await enforceQuota(t, g.project_id, 'security_group_rule', 1);
        const rid = await insertRule(t, g.project_id, g.id, rule);
        await t.run('UPDATE neutron_security_groups SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [nowIso(), g.id]);
        return rid;
      }).catch((e) => { throw isUniqueViolation(e) ? neutronError(409, 'SecurityGroupRuleExists', 'Security group rule already exists.') : e; });
      reply.code(201);
      const row = await ctx.db.get('SELECT r.*, g.is_default FROM neutron_security_group_rules r JOIN neutron_security_groups g ON g.id = r.security_group_id WHERE r.id = ?', [id]);
      return { security_group_rule: (await ruleViews(ctx.db, [row]))[0] };
    });

    app.get('/security-group-rules', async (req) => {
      const auth = req.auth!;
      const base = 'SELECT r.*, g.is_default FROM neutron_security_group_rules r JOIN neutron_security_groups g ON g.id = r.security_group_id';
      const rows = isAdmin(auth) ? await ctx.db.all(base) : await ctx.db.all(`${base} WHERE g.project_id = ?`, [auth.projectId ?? '']);
      return listResponse('security_group_rules', await ruleViews(ctx.db, rows), queryOf(req), collectionUrl(ctx, 'security-group-rules'));
    });

    const findRule = async (req: FastifyRequest, id: string, q: Queryable = ctx.db) => {
      const r = await q.get('SELECT r.*, g.is_default, g.project_id AS group_project FROM neutron_security_group_rules r JOIN neutron_security_groups g ON g.id = r.security_group_id WHERE r.id = ?', [id]);
      if (!r || !(isAdmin(req.auth!) || r.group_project === req.auth!.projectId)) throw ruleNotFound(id);
      return r;
    };
    app.get<{ Params: { id: string } }>('/security-group-rules/:id', async (req) => {
      const r = await findRule(req, req.params.id);
      return { security_group_rule: showFields((await ruleViews(ctx.db, [r]))[0], queryOf(req)) };
    });
    app.delete<{ Params: { id: string } }>('/security-group-rules/:id', async (req, reply) => {
      await ctx.db.tx(async (t) => {
        const r = await findRule(req, req.params.id, t);
        authorize(ctx, req, 'delete_security_group_rule', { project_id: r.group_project });
        await t.run('DELETE FROM neutron_security_group_rules WHERE id = ?', [r.id]);
        await t.run('UPDATE neutron_security_groups SET revision_number = revision_number + 1, updated_at = ? WHERE id = ?', [nowIso(), r.security_group_id]);
      });
      reply.code(204);
    });
  },
};

