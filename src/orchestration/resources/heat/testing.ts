// A hand-made ResourceContext for the plugins' unit tests: data, physical id, metadata and nested
// stacks live in memory; tests drive the nested stacks' status themselves.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type {
  ActionStatus, NestedStackDefinition, NestedStacks, OpenStackClient, PropertySchema, ResourceContext, ResourcePlugin, StackAction,
  StackContext,
} from '../../types.ts';
import type { Context } from '../../../core/service.ts';
import { openDatabase, type Database } from '../../../core/db/index.ts';
import { migrate } from '../../../core/db/migrate.ts';
import { softwareMigrations } from '../../software/store.ts';

export interface FakeNested {
  def: NestedStackDefinition;
  action: StackAction;
  status: ActionStatus;
  reason: string;
  outputs: Record<string, unknown>;
  refs: Record<string, string | null>;
  attrs: Record<string, Record<string, unknown>>;
  updates: number;
}

export class FakeNestedStacks implements NestedStacks {
  stacks = new Map<string, FakeNested>();
  owned: string | null = null;
  async create(def: NestedStackDefinition) {
    if (this.owned && this.stacks.has(this.owned)) return this.owned;
    const id = randomUUID();
    this.stacks.set(id, { def, action: 'CREATE', status: 'IN_PROGRESS', reason: '', outputs: {}, refs: {}, attrs: {}, updates: 0 });
    this.owned = id;
    return id;
  }
  async update(id: string, def: NestedStackDefinition) {
    const s = this.get(id);
    Object.assign(s, { def, action: 'UPDATE', status: 'IN_PROGRESS', updates: s.updates + 1 });
  }
  async delete(id: string) {
    const s = this.stacks.get(id);
    if (s) Object.assign(s, { action: 'DELETE', status: 'IN_PROGRESS' });
  }
  async status(id: string) {
    const s = this.stacks.get(id);
    return s ? { action: s.action, status: s.status, reason: s.reason } : null;
  }
  async outputs(id: string) { return this.get(id).outputs; }
  async resourceAttr(id: string, resource: string, attribute: string) { return this.get(id).attrs[resource]?.[attribute] ?? null; }
  async resourceRefs(id: string) {
    const s = this.get(id);
    const names = Object.keys((s.def.template as any).resources ?? {});
    return Object.fromEntries(names.map((n) => [n, s.refs[n] ?? `ref-${n}`]));
  }
  get(id: string): FakeNested {
    const s = this.stacks.get(id);
    if (!s) throw new Error(`no nested stack ${id}`);
    return s;
  }
  /** Finishes the current operation of a stack (COMPLETE, or FAILED with a reason). */
  finish(id: string, reason?: string) {
    const s = this.get(id);
    s.status = reason ? 'FAILED' : 'COMPLETE';
    s.reason = reason ?? '';
  }
}

/** Property defaults applied as the engine would (top level only, enough for these tests). */
export function withDefaults(plugin: ResourcePlugin, props: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...props };
  for (const [k, s] of Object.entries(plugin.properties) as [string, PropertySchema][]) {
    if (out[k] === undefined) out[k] = s.default !== undefined ? structuredClone(s.default) : null;
  }
  return out;
}

export interface FakeResource extends ResourceContext {
  properties: Record<string, any>;
  previousProperties?: Record<string, any>;
  physicalId: string | null;
  metadata: unknown;
  nested: FakeNestedStacks;
  signalList: unknown[];
  logs: string[];
}

export function fakeResource(plugin: ResourcePlugin, props: Record<string, any> = {}, opts: {
  name?: string; stack?: Partial<StackContext>; cloud?: Context; client?: OpenStackClient; nested?: FakeNestedStacks;
} = {}): FakeResource {
  const name = opts.name ?? 'res';
  const stack: StackContext = {
    id: randomUUID(), name: 'stk', projectId: 'p1', userId: 'u1', region: 'RegionOne', publicUrl: 'http://127.0.0.1:5000',
    parentId: null, ...opts.stack,
  };
  const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
  const r: FakeResource = {
    name, type: plugin.type, uuid: randomUUID(), stack,
    properties: withDefaults(plugin, props),
    physicalId: null,
    async setPhysicalId(id) { r.physicalId = id; },
    data: {},
    async setData(k, v) { if (v === null) delete r.data[k]; else r.data[k] = v; },
    physicalName: () => `${stack.name}-${name}-${suffix}`,
    metadata: {},
    async setMetadata(v) { r.metadata = v; },
    client: opts.client ?? { async request() { throw new Error('no client in this test'); }, async find() { return null; } },
    nested: opts.nested ?? new FakeNestedStacks(),
    signalList: [],
    async signals() { return r.signalList; },
    log: (m) => { r.logs.push(m); },
    logs: [],
    cloud: opts.cloud ?? ({} as Context),
  };
  return r;
}

/** Turns a resource into its updated self, as the engine does before handleUpdate. */
export function updated(plugin: ResourcePlugin, r: FakeResource, props: Record<string, any>) {
  const newProperties = withDefaults(plugin, props);
  const oldProperties = r.properties;
  const changed = Object.keys({ ...oldProperties, ...newProperties })
    .filter((k) => JSON.stringify(oldProperties[k]) !== JSON.stringify(newProperties[k]));
  r.previousProperties = oldProperties;
  r.properties = newProperties;
  return { changed, oldProperties, newProperties };
}

/** Polls a check* handler until it answers true (or throws), at most `max` times. */
export async function poll(check: () => Promise<boolean>, max = 200, ms = 5): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await check()) return;
    await new Promise((res) => setTimeout(res, ms));
  }
  throw new Error('did not complete');
}

/** A cloud context with only a fresh SQLite database carrying the software tables (and a
 *  minimal heat_resources table standing in for the engine's). */
export async function testCloud(): Promise<{ ctx: Context; db: Database; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'vistack-heat-test-'));
  const db = await openDatabase(`sqlite:${join(dir, 'test.db')}`);
  await migrate(db, softwareMigrations);
  await db.run(`CREATE TABLE IF NOT EXISTS heat_resources (id TEXT PRIMARY KEY, physical_id TEXT, type TEXT, metadata TEXT,
    action TEXT NOT NULL DEFAULT 'INIT', status TEXT NOT NULL DEFAULT 'COMPLETE')`);
  const ctx = { db, config: { region: 'RegionOne', publicUrl: 'http://127.0.0.1:5000' }, log: { info() {}, warn() {}, error() {} } } as unknown as Context;
  return { ctx, db, async close() { await db.close(); rmSync(dir, { recursive: true, force: true }); } };
}
