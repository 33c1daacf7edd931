// OS::Heat::ResourceGroup: `count` copies of one resource definition in a nested stack whose
// members are named '0'..'n-1' (names removed by a removal policy are never reused). Its
// attributes mirror the members': a list per member attribute, or one member's by 'resource.<n>'.
import type { ResourceContext, ResourcePlugin } from '../../types.ts';
import { heatError } from '../../types.ts';
import { nestedDeleted, nestedDone, selectPath } from './common.ts';

export const NESTED_VERSION = '2015-04-30';

/** Replaces the index variable in every string of a value (keys included, as Heat does for names). */
export function replaceIndex(v: unknown, indexVar: string, index: string): unknown {
  if (typeof v === 'string') return v.split(indexVar).join(index);
  if (Array.isArray(v)) return v.map((x) => replaceIndex(x, indexVar, index));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceIndex(x, indexVar, index)]));
  }
  return v;
}

export function memberDefinition(def: Record<string, any>, indexVar: string, index: string): Record<string, unknown> {
  const m: Record<string, unknown> = { type: def.type };
  if (def.properties) m.properties = replaceIndex(def.properties, indexVar, index);
  if (def.metadata) m.metadata = def.metadata;
  return m;
}

/** The first `count` names '0', '1', ... that are not blacklisted. */
export function memberNames(count: number, blacklist: Set<string>): string[] {
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) if (!blacklist.has(String(i))) names.push(String(i));
  return names;
}

export function groupTemplate(props: Record<string, any>, names: string[]): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  for (const n of names) resources[n] = memberDefinition(props.resource_def, props.index_var ?? '%index%', n);
  return { heat_template_version: NESTED_VERSION, resources };
}

const blacklistOf = (r: ResourceContext) => new Set((r.data.name_blacklist ?? '').split(',').filter(Boolean));
export const membersOf = (r: ResourceContext): string[] => JSON.parse(r.data.members ?? '[]');

/** Folds the removal policies into the blacklist kept in data: entries are member names or refs. */
async function updateBlacklist(r: ResourceContext): Promise<Set<string>> {
  const mode = r.properties.removal_policies_mode ?? 'append';
  const before = blacklistOf(r);
  const names = mode === 'update' ? new Set<string>() : new Set(before);
  const policies: any[] = r.properties.removal_policies ?? [];
  const wanted = policies.flatMap((p) => (p?.resource_list ?? []).map(String));
  if (wanted.length && r.physicalId) {
    const current = new Set(membersOf(r));
    let refs: Record<string, string | null> | null = null;
    for (const w of wanted) {
      if (current.has(w)) { names.add(w); continue; }
      refs ??= await r.nested.resourceRefs(r.physicalId);
      const hit = Object.entries(refs).find(([, ref]) => ref === w);
      if (hit) names.add(hit[0]);
    }
  }
  if ([...names].sort().join(',') !== [...before].sort().join(',')) await r.setData('name_blacklist', [...names].join(','));
  return names;
}

async function memberAttr(r: ResourceContext, member: string, attr: string, path: unknown[]) {
  return selectPath(await r.nested.resourceAttr(r.physicalId!, member, attr), path);
}

/** get_attr on a group of `members` (shared with the scaling group's refs and refs_map). */
export async function refsOf(r: ResourceContext, members: string[]): Promise<Record<string, string | null>> {
  if (!r.physicalId) return {};
  const refs = await r.nested.resourceRefs(r.physicalId);
  return Object.fromEntries(members.map((m) => [m, refs[m] ?? null]));
}

async function groupAttr(r: ResourceContext, name: string, path: unknown[]): Promise<unknown> {
  const members = membersOf(r);
  if (name === 'removed_rsrc_list') return selectPath([...blacklistOf(r)], path);
  if (!r.physicalId) return null;
  if (name === 'refs') return selectPath(Object.values(await refsOf(r, members)), path);
  if (name === 'refs_map') return selectPath(await refsOf(r, members), path);
  if (name === 'attributes') {
    if (!path.length) return null;
    const [attr, ...rest] = path;
    const out: Record<string, unknown> = {};
    for (const m of members) out[m] = await memberAttr(r, m, String(attr), rest);
    return out;
  }
  if (name.startsWith('resource.')) {
    const [, member, ...attrParts] = name.split('.');
    if (!members.includes(member)) {
      throw heatError(400, 'InvalidTemplateAttribute', `The Referenced Attribute (${r.name} ${name}) is incorrect.`);
    }
    if (attrParts.length) return memberAttr(r, member, attrParts.join('.'), path);
    if (path.length) return memberAttr(r, member, String(path[0]), path.slice(1));
    return (await refsOf(r, [member]))[member];
  }
  const out: unknown[] = [];
  for (const m of members) out.push(await memberAttr(r, m, name, path));
  return out;
}

export const ResourceGroup: ResourcePlugin = {
  type: 'OS::Heat::ResourceGroup',
  description: 'Creates `count` identically configured resources in a nested stack; %index% in their properties becomes each one\'s index.',
  supportStatus: { status: 'SUPPORTED', version: '2014.1' },
  properties: {
    count: { type: 'integer', description: 'How many resources the group holds.', default: 1, update_allowed: true, constraints: [{ range: { min: 0 } }] },
    index_var: {
      type: 'string', description: 'The string replaced by each resource\'s index in its properties.', default: '%index%',
      constraints: [{ length: { min: 3 } }], support_status: { status: 'SUPPORTED', version: '2014.2' },
    },
    resource_def: {
      type: 'map', description: 'The definition of each resource, as it would be written in the template itself.',
      required: true, update_allowed: true,
      schema: {
        type: { type: 'string', description: 'Resource type of the members.', required: true },
        properties: { type: 'map', description: 'Properties of the members.' },
        metadata: { type: 'map', description: 'Metadata of the members.', support_status: { status: 'SUPPORTED', version: '5.0.0' } },
      },
    },
    removal_policies: {
      type: 'list', description: 'Members to remove on update, whatever the count.', default: [], update_allowed: true,
      support_status: { status: 'SUPPORTED', version: '2015.1' },
      schema: {
        '*': {
          type: 'map', description: 'A policy naming the members to remove.',
          schema: {
            resource_list: {
              type: 'list', default: [],
              description: 'Members to remove, by name in the nested stack or by reference (as in the refs attribute); a removed name is never reused.',
            },
          },
        },
      },
    },
    removal_policies_mode: {
      type: 'string', description: 'Whether removal_policies add to the names removed before ("append") or replace them ("update").',
      default: 'append', update_allowed: true, constraints: [{ allowed_values: ['append', 'update'] }],
      support_status: { status: 'SUPPORTED', version: '10.0.0' },
    },
  },
  attributes: {
    refs: { description: 'References (ids) of the members, in index order.', type: 'list' },
    refs_map: { description: 'Map of member names to their references.', type: 'map', },
    attributes: { description: 'Map of member names to the attribute named by the path (get_attr: [group, attributes, <attr>]).', type: 'map' },
    removed_rsrc_list: { description: 'Names of the members removed by removal policies.', type: 'list' },
  },
  async handleCreate(r) {
    const names = memberNames(r.properties.count ?? 1, await updateBlacklist(r));
    await r.setData('members', JSON.stringify(names));
    const id = await r.nested.create({ template: groupTemplate(r.properties, names) });
    if (r.physicalId !== id) await r.setPhysicalId(id);
  },
  async checkCreateComplete(r) { return nestedDone(r, r.physicalId, 'CREATE'); },
  async handleUpdate(r) {
    if (!r.physicalId) return ResourceGroup.handleCreate(r);
    const names = memberNames(r.properties.count ?? 1, await updateBlacklist(r));
    await r.setData('members', JSON.stringify(names));
    await r.nested.update(r.physicalId, { template: groupTemplate(r.properties, names) });
  },
  async checkUpdateComplete(r) { return nestedDone(r, r.physicalId, 'UPDATE'); },
  async handleDelete(r) { if (r.physicalId) await r.nested.delete(r.physicalId); },
  async checkDeleteComplete(r) { return nestedDeleted(r, r.physicalId); },
  async resolveAttribute(r, name) { return groupAttr(r, name, []); },
  async resolveAttributePath(r, name, path) { return groupAttr(r, name, path); },
};
