// OS::Heat::AutoScalingGroup and OS::Heat::ScalingPolicy. The group's members (short random
// names) live in a nested stack; its size and definition are kept in heat_scaling_groups, keyed
// by the nested stack id (= the group's physical id), because a policy resizes a group it does
// not own: it finds the row by auto_scaling_group_id and updates the group's nested stack.
import type { Queryable } from '../../../core/db/index.ts';
import { fromJson, toJson } from '../../../core/db/index.ts';
import type { ResourceContext, ResourcePlugin } from '../../types.ts';
import { heatError, validationFailed } from '../../types.ts';
import { nestedDeleted, nestedDone, selectPath, shortId, signalUrls } from './common.ts';
import { NESTED_VERSION } from './resource_group.ts';

export interface ScalingGroup {
  id: string; stackId: string; resourceName: string; minSize: number; maxSize: number; cooldown: number | null;
  resourceDef: Record<string, unknown>; members: string[]; lastScaled: string | null;
}

export async function loadGroup(db: Queryable, id: string): Promise<ScalingGroup | null> {
  const r = await db.get('SELECT * FROM heat_scaling_groups WHERE id = ?', [id]);
  if (!r) return null;
  return {
    id: r.id, stackId: r.stack_id, resourceName: r.resource_name, minSize: Number(r.min_size), maxSize: Number(r.max_size),
    cooldown: r.cooldown === null ? null : Number(r.cooldown), resourceDef: fromJson(r.resource_def, {}),
    members: fromJson(r.members, []), lastScaled: r.last_scaled ?? null,
  };
}

async function saveGroup(db: Queryable, g: ScalingGroup): Promise<void> {
  await db.tx(async (t) => {
    await t.run('DELETE FROM heat_scaling_groups WHERE id = ?', [g.id]);
    await t.run(`INSERT INTO heat_scaling_groups (id, stack_id, resource_name, min_size, max_size, cooldown, resource_def, members,
      last_scaled, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [g.id, g.stackId, g.resourceName, g.minSize, g.maxSize, g.cooldown, toJson(g.resourceDef), toJson(g.members), g.lastScaled,
      new Date().toISOString()]);
  });
}

export function scalingTemplate(def: Record<string, unknown>, members: string[]): Record<string, unknown> {
  return { heat_template_version: NESTED_VERSION, resources: Object.fromEntries(members.map((m) => [m, def])) };
}

/** Grows with new names at the end, shrinks by dropping the oldest members first (as Heat). */
export function resize(members: string[], capacity: number): string[] {
  if (capacity <= members.length) return members.slice(members.length - capacity);
  return [...members, ...Array.from({ length: capacity - members.length }, shortId)];
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

function checkSizes(p: Record<string, any>) {
  if (p.min_size > p.max_size) throw validationFailed('min_size can not be greater than max_size');
  if (p.desired_capacity !== null && p.desired_capacity !== undefined && (p.desired_capacity < p.min_size || p.desired_capacity > p.max_size)) {
    throw validationFailed(`desired_capacity must be between ${p.min_size} and ${p.max_size}`);
  }
}

async function membersOf(r: ResourceContext): Promise<string[]> {
  if (r.physicalId) {
    const g = await loadGroup(r.cloud.db, r.physicalId);
    if (g) return g.members;
  }
  return JSON.parse(r.data.members ?? '[]');
}

async function asgAttr(r: ResourceContext, name: string, path: unknown[]): Promise<unknown> {
  const members = await membersOf(r);
  if (name === 'current_size') return members.length;
  if (!r.physicalId) return null;
  if (name === 'refs' || name === 'refs_map') {
    const refs = await r.nested.resourceRefs(r.physicalId);
    const map = Object.fromEntries(members.map((m) => [m, refs[m] ?? null]));
    return selectPath(name === 'refs' ? Object.values(map) : map, path);
  }
  if (name === 'outputs' || name === 'outputs_list') {
    if (!path.length) return null;
    const [attr, ...rest] = path;
    const values: Record<string, unknown> = {};
    for (const m of members) values[m] = selectPath(await r.nested.resourceAttr(r.physicalId, m, String(attr)), rest);
    return name === 'outputs' ? values : Object.values(values);
  }
  throw heatError(400, 'InvalidTemplateAttribute', `The Referenced Attribute (${r.name} ${name}) is incorrect.`);
}

export const AutoScalingGroup: ResourcePlugin = {
  type: 'OS::Heat::AutoScalingGroup',
  description: 'A group of identical resources between min_size and max_size, resized by OS::Heat::ScalingPolicy signals.',
  supportStatus: { status: 'SUPPORTED', version: '2014.1' },
  properties: {
    desired_capacity: { type: 'integer', description: 'How many resources to start with (default: min_size).', update_allowed: true },
    max_size: { type: 'integer', description: 'Most resources the group may hold.', required: true, update_allowed: true, constraints: [{ range: { min: 0 } }] },
    min_size: { type: 'integer', description: 'Fewest resources the group may hold.', required: true, update_allowed: true, constraints: [{ range: { min: 0 } }] },
    cooldown: { type: 'integer', description: 'Seconds after a resize during which further scaling is ignored.', update_allowed: true },
    resource: {
      type: 'map', description: 'The definition of each member, in HOT, as it would be written in the template itself.',
      required: true, update_allowed: true,
    },
  },
  attributes: {
    outputs: { description: 'Map of member names to the attribute named by the path (get_attr: [group, outputs, <attr>]).', type: 'map' },
    outputs_list: { description: 'List of the members\' values of the attribute named by the path.', type: 'list' },
    current_size: { description: 'How many members the group holds now.', type: 'integer' },
    refs: { description: 'References (ids) of the members.', type: 'list', },
    refs_map: { description: 'Map of member names to their references.', type: 'map' },
  },
  async validate(p) { checkSizes(p); },
  async handleCreate(r) {
    const p = r.properties;
    let members: string[] = JSON.parse(r.data.members ?? 'null');
    if (!members) {
      members = resize([], clamp(p.desired_capacity ?? p.min_size, p.min_size, p.max_size));
      await r.setData('members', JSON.stringify(members));
    }
    const id = await r.nested.create({ template: scalingTemplate(p.resource, members) });
    if (r.physicalId !== id) await r.setPhysicalId(id);
    if (!(await loadGroup(r.cloud.db, id))) {
      await saveGroup(r.cloud.db, {
        id, stackId: r.stack.id, resourceName: r.name, minSize: p.min_size, maxSize: p.max_size, cooldown: p.cooldown ?? null,
        resourceDef: p.resource, members, lastScaled: null,
      });
    }
  },
  async checkCreateComplete(r) { return nestedDone(r, r.physicalId, 'CREATE'); },
  async handleUpdate(r, change) {
    if (!r.physicalId) return AutoScalingGroup.handleCreate(r);
    const p = r.properties;
    checkSizes(p);
    const g = await loadGroup(r.cloud.db, r.physicalId);
    const current = g?.members ?? JSON.parse(r.data.members ?? '[]');
    const capacity = change.changed.includes('desired_capacity') && p.desired_capacity !== null && p.desired_capacity !== undefined
      ? p.desired_capacity : clamp(current.length, p.min_size, p.max_size);
    const members = resize(current, capacity);
    await r.setData('members', JSON.stringify(members));
    await saveGroup(r.cloud.db, {
      id: r.physicalId, stackId: r.stack.id, resourceName: r.name, minSize: p.min_size, maxSize: p.max_size, cooldown: p.cooldown ?? null,
      resourceDef: p.resource, members, lastScaled: g?.lastScaled ?? null,
    });
    await r.nested.update(r.physicalId, { template: scalingTemplate(p.resource, members) });
  },
  async checkUpdateComplete(r) { return nestedDone(r, r.physicalId, 'UPDATE'); },
  async handleDelete(r) { if (r.physicalId) await r.nested.delete(r.physicalId); },
  async checkDeleteComplete(r) {
    const done = await nestedDeleted(r, r.physicalId);
    if (done && r.physicalId) await r.cloud.db.run('DELETE FROM heat_scaling_groups WHERE id = ?', [r.physicalId]);
    return done;
  },
  async resolveAttribute(r, name) { return asgAttr(r, name, []); },
  async resolveAttributePath(r, name, path) { return asgAttr(r, name, path); },
};

const ADJUSTMENTS = ['change_in_capacity', 'exact_capacity', 'percent_change_in_capacity'];

/** The new size asked for by one adjustment (Heat's rounding for percentages), within the bounds. */
export function newCapacity(current: number, type: string, adjustment: number, minStep: number | null, min: number, max: number): number {
  let next: number;
  if (type === 'exact_capacity') next = adjustment;
  else if (type === 'percent_change_in_capacity') {
    const delta = (current * adjustment) / 100;
    let rounded: number;
    if (Math.abs(delta) < 1) rounded = delta > 0 ? Math.ceil(delta) : Math.floor(delta);
    else if (minStep && Math.abs(delta) < minStep) rounded = delta > 0 ? minStep : -minStep;
    else rounded = delta > 0 ? Math.floor(delta) : Math.ceil(delta);
    next = current + rounded;
  } else next = current + adjustment;
  return clamp(Math.trunc(next), min, max);
}

const coolingDown = (last: string | null, cooldown: number | null | undefined) =>
  !!last && !!cooldown && Date.now() - Date.parse(last) < cooldown * 1000;

export const ScalingPolicy: ResourcePlugin = {
  type: 'OS::Heat::ScalingPolicy',
  description: 'Resizes an OS::Heat::AutoScalingGroup when signalled (an alarm or a POST to its signal_url).',
  supportStatus: { status: 'SUPPORTED', version: '2014.1' },
  properties: {
    auto_scaling_group_id: { type: 'string', description: 'The scaling group this policy resizes.', required: true },
    adjustment_type: {
      type: 'string', description: 'How scaling_adjustment is read: a change, an exact size or a percentage of the size.',
      required: true, update_allowed: true, constraints: [{ allowed_values: ADJUSTMENTS }],
    },
    scaling_adjustment: { type: 'number', description: 'The size of the adjustment.', required: true, update_allowed: true },
    cooldown: { type: 'number', description: 'Seconds after a resize by this policy during which its signals are ignored.', update_allowed: true },
    min_adjustment_step: {
      type: 'integer', description: 'Least number of resources a percent_change_in_capacity adjustment adds or removes.',
      update_allowed: true, constraints: [{ range: { min: 0 } }],
    },
  },
  attributes: {
    alarm_url: { description: 'URL that an alarm posts to in order to apply this policy.', type: 'string' },
    signal_url: { description: 'URL that applies this policy when posted to.', type: 'string' },
  },
  async handleCreate(r) { if (!r.physicalId) await r.setPhysicalId(r.physicalName()); },
  async handleUpdate() { /* properties are read at signal time */ },
  async handleDelete() { /* nothing outside Heat */ },
  async resolveAttribute(r, name) {
    if (name === 'alarm_url' || name === 'signal_url') return signalUrls.of(r.cloud, r.stack.id, r.name);
    return null;
  },
  async handleSignal(r, details) {
    const d: any = details && typeof details === 'object' ? details : {};
    // Alarms post their state; only 'alarm' scales (ok / insufficient data need no action).
    const state = String(d.current ?? d.state ?? 'alarm').toLowerCase();
    if (state !== 'alarm') { r.log(`${r.name}: alarm state ${state}, no action`); return; }
    const p = r.properties;
    if (coolingDown(r.data.last_scaled ?? null, p.cooldown)) { r.log(`${r.name}: in cooldown, signal ignored`); return; }
    const db = r.cloud.db;
    const g = await loadGroup(db, String(p.auto_scaling_group_id));
    if (!g) throw heatError(404, 'EntityNotFound', `The Scaling Group (${p.auto_scaling_group_id}) could not be found.`);
    if (coolingDown(g.lastScaled, g.cooldown)) { r.log(`${r.name}: group in cooldown, signal ignored`); return; }
    const size = newCapacity(g.members.length, p.adjustment_type, Number(p.scaling_adjustment), p.min_adjustment_step ?? null, g.minSize, g.maxSize);
    if (size === g.members.length) { r.log(`${r.name}: group already at ${size}`); return; }
    const now = new Date().toISOString();
    const next = { ...g, members: resize(g.members, size), lastScaled: now };
    await saveGroup(db, next);
    await r.nested.update(g.id, { template: scalingTemplate(g.resourceDef, next.members) });
    await r.setData('last_scaled', now);
  },
};
