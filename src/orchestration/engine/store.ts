// Rows of heat_stacks / heat_resources / heat_events and the few writes every part of the engine
// makes (state changes always come with their event, as in Heat).
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../../core/db/index.ts';
import { bool, fromJson, toJson } from '../../core/db/index.ts';
import { uuid, nowIso } from '../../core/ids.ts';
import type { ActionStatus, Environment, EventRecord, StackAction, StackRecord } from '../types.ts';

export interface StackRow {
  id: string;
  name: string;
  project_id: string;
  user_id: string;
  parent_id: string | null;
  owner_resource: string | null;
  action: StackAction;
  status: ActionStatus;
  status_reason: string;
  description: string;
  template: string;
  environment: string;
  files: string;
  parameters: string;
  given_parameters: string;
  disable_rollback: number;
  timeout_mins: number | null;
  tags: string;
  prev_template: string | null;
  prev_environment: string | null;
  prev_files: string | null;
  prev_parameters: string | null;
  prev_given_parameters: string | null;
  cancel: number;
  operation_id: string | null;
  operation: string | null;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
}

export interface ResourceRow {
  uuid: string;
  stack_id: string;
  name: string;
  type: string;
  physical_id: string | null;
  action: StackAction;
  status: ActionStatus;
  status_reason: string;
  properties: string | null;
  definition: string | null;
  data: string;
  metadata: string | null;
  requires: string;
  physical_name: string;
  nested_stack_id: string | null;
  replaced_by: string | null;
  replaces: string | null;
  hook_state: string | null;
  created_at: string;
  updated_at: string | null;
}

/** What an operation is doing, kept in heat_stacks.operation. */
export interface Operation {
  id: string;
  /** The stack action as shown (CREATE, UPDATE, DELETE, ROLLBACK, ADOPT, CHECK, SUSPEND, RESUME). */
  action: StackAction;
  /** For ROLLBACK: the action rolled back (CREATE rolls back by deleting). */
  rollbackOf?: StackAction;
  startedAt: number;
  /** Epoch ms after which the operation times out: a nested stack's share of its parent's time. */
  deadline?: number | null;
  /** Adopt: resource data by name from the abandon output. */
  adopt?: Record<string, any>;
}

export function stackRecord(r: StackRow): StackRecord {
  const tpl = fromJson<Record<string, unknown>>(r.template, {});
  return {
    id: r.id, name: r.name, projectId: r.project_id, userId: r.user_id,
    parentId: r.parent_id, ownerResource: r.owner_resource,
    action: r.action, status: r.status, statusReason: r.status_reason,
    description: r.description,
    template: tpl,
    environment: fromJson<Environment>(r.environment, { parameters: {}, parameter_defaults: {}, resource_registry: {}, event_sinks: [] }),
    files: fromJson(r.files, {}),
    parameters: fromJson(r.parameters, {}),
    disableRollback: bool(r.disable_rollback),
    timeoutMins: r.timeout_mins === null || r.timeout_mins === undefined ? null : Number(r.timeout_mins),
    tags: fromJson(r.tags, []),
    createdAt: r.created_at, updatedAt: r.updated_at, deletedAt: r.deleted_at,
  };
}

let lastSeq = 0;
/** Orders events (and signals) written within one millisecond. */
export function nextSeq(): number {
  lastSeq = Math.max(lastSeq + 1, Date.now() * 1000);
  return lastSeq;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export function randomSuffix(n = 12): string {
  const b = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[b[i] % ALNUM.length];
  return s;
}

export async function getStackRow(q: Queryable, id: string): Promise<StackRow | undefined> {
  return q.get<StackRow>('SELECT * FROM heat_stacks WHERE id = ?', [id]);
}

export async function stackResources(q: Queryable, stackId: string): Promise<ResourceRow[]> {
  return q.all<ResourceRow>('SELECT * FROM heat_resources WHERE stack_id = ? ORDER BY created_at, name', [stackId]);
}

export async function getResourceRow(q: Queryable, uuidOf: string): Promise<ResourceRow | undefined> {
  return q.get<ResourceRow>('SELECT * FROM heat_resources WHERE uuid = ?', [uuidOf]);
}

export async function addEvent(q: Queryable, e: {
  stackId: string; resourceName: string; physicalId: string | null; type: string;
  action: StackAction; status: ActionStatus; reason: string; properties?: unknown;
}) {
  await q.run(`INSERT INTO heat_events (id, stack_id, seq, resource_name, physical_resource_id, resource_type, action, status, reason, properties, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  [uuid(), e.stackId, nextSeq(), e.resourceName, e.physicalId, e.type, e.action, e.status, e.reason, toJson(e.properties ?? {}), nowIso()]);
}

export function eventRecord(r: any, stackName: string): EventRecord {
  return {
    id: r.id, stackId: r.stack_id, stackName, resourceName: r.resource_name,
    physicalResourceId: r.physical_resource_id, resourceType: r.resource_type,
    action: r.action, status: r.status, reason: r.reason, time: r.created_at,
    resourceProperties: fromJson(r.properties, {}),
  };
}

/** Sets a stack's state and writes the stack event Heat writes with it. */
export async function setStackState(q: Queryable, s: { id: string; name: string }, action: StackAction, status: ActionStatus, reason: string) {
  const ts = nowIso();
  await q.run('UPDATE heat_stacks SET action = ?, status = ?, status_reason = ?, updated_at = CASE WHEN ? THEN ? ELSE updated_at END WHERE id = ?',
    [action, status, reason, action !== 'CREATE' && action !== 'INIT' ? 1 : 0, ts, s.id]);
  await addEvent(q, { stackId: s.id, resourceName: s.name, physicalId: s.id, type: 'OS::Heat::Stack', action, status, reason });
}

/** Sets a resource's state with its 'state changed' (or given) event. */
export async function setResourceState(q: Queryable, r: ResourceRow, action: StackAction, status: ActionStatus, reason = '',
  opts: { eventReason?: string; extra?: Partial<Record<'properties' | 'definition' | 'requires' | 'type', string>> } = {}) {
  const ts = nowIso();
  const sets = ['action = ?', 'status = ?', 'status_reason = ?', 'updated_at = ?'];
  const params: any[] = [action, status, reason, ts];
  for (const [k, v] of Object.entries(opts.extra ?? {})) { sets.push(`${k} = ?`); params.push(v); }
  await q.run(`UPDATE heat_resources SET ${sets.join(', ')} WHERE uuid = ?`, [...params, r.uuid]);
  const fresh = (await getResourceRow(q, r.uuid)) ?? r;
  await addEvent(q, {
    stackId: r.stack_id, resourceName: r.name, physicalId: fresh.physical_id, type: opts.extra?.type ?? r.type, action, status,
    reason: opts.eventReason ?? (reason || 'state changed'), properties: fromJson(fresh.properties, {}),
  });
  Object.assign(r, fresh);
}
