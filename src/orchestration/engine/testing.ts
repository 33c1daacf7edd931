// Test helpers for the engine: a database with the tables, a task engine, and fake resource
// plugins backed by an in-memory "cloud" so tests can see what exists (and what leaked).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../core/db/index.ts';
import { migrate } from '../../core/db/migrate.ts';
import { TaskEngine, taskMigrations } from '../../core/tasks.ts';
import type { Context } from '../../core/service.ts';
import { uuid } from '../../core/ids.ts';
import type { Caller, PluginRegistry, ResourcePlugin } from '../types.ts';
import { orchestrationMigrations } from '../db.ts';
import { softwareMigrations } from '../software/store.ts';
import { signalMigrations } from '../signal_url.ts';
import { HEAT_PLUGINS } from '../resources/heat/index.ts';
import { createEngine, type Engine } from './index.ts';

/** Every table the engine and the OS::Heat::* plugins use. */
export const HEAT_MIGRATIONS = [...taskMigrations, ...orchestrationMigrations, ...softwareMigrations, ...signalMigrations];

/** Like resources/registry.ts createRegistry, without loading the real plugins (written in parallel). */
function createRegistry(plugins: ResourcePlugin[]): PluginRegistry {
  const byType = new Map(plugins.map((p) => [p.type, p]));
  return { get: (t) => byType.get(t), list: () => [...byType.values()] };
}

export interface FakeObject { id: string; name: string; type: string; value: unknown; fixed: unknown; ready: boolean }

/** The fake backend: objects by id, and a log of what happened in order. */
export class FakeCloud {
  objects = new Map<string, FakeObject>();
  log: string[] = [];
  /** Resources (by logical name prefix of physical name) whose create waits until opened. */
  gates = new Map<string, boolean>();
  /** Set to a resource name: its handleCreate creates the object and then hangs forever (a crash before setPhysicalId). */
  hangAfterBackendCreate: string | null = null;
  inFlight = 0;
  maxInFlight = 0;
  /** What Test::Probe resources saw of their stack, by resource name. */
  seen = new Map<string, { timeoutMins: number | null | undefined; properties: Record<string, any>; parentId: string | null }>();
  byName(name: string) { return [...this.objects.values()].find((o) => o.name === name) ?? null; }
}

const logical = (r: { name: string }) => r.name;

export function fakePlugins(cloud: FakeCloud): ResourcePlugin[] {
  const thing = (type: string, opts: { withUpdate: boolean }): ResourcePlugin => ({
    type,
    description: 'A fake resource.',
    properties: {
      value: { type: 'string', update_allowed: true, default: '' },
      fixed: { type: 'string', default: '' },
      fail: { type: 'boolean', default: false, update_allowed: true },
      delay_ms: { type: 'integer', default: 0, update_allowed: true },
    },
    attributes: { output: { description: 'The value.' }, name: { description: 'Physical name.' } },
    async handleCreate(r) {
      cloud.log.push(`create-start ${logical(r)}`);
      cloud.inFlight++;
      cloud.maxInFlight = Math.max(cloud.maxInFlight, cloud.inFlight);
      const o: FakeObject = { id: uuid(), name: r.physicalName(), type, value: r.properties.value, fixed: r.properties.fixed, ready: false };
      cloud.objects.set(o.id, o);
      if (cloud.hangAfterBackendCreate === r.name) await new Promise(() => {});
      await r.setPhysicalId(o.id);
      await r.setData('started', String(Date.now()));
    },
    async checkCreateComplete(r) {
      const o = cloud.objects.get(r.physicalId!);
      if (!o) throw new Error('vanished');
      if (cloud.gates.get(r.name) === false) return false;
      if (Date.now() - Number(r.data.started ?? 0) < (r.properties.delay_ms ?? 0)) return false;
      if (r.properties.fail) { cloud.inFlight--; throw new Error(`Test Resource failed ${r.name}`); }
      if (!o.ready) { o.ready = true; cloud.inFlight--; cloud.log.push(`create-done ${logical(r)}`); }
      return true;
    },
    async findInterrupted(r) { return cloud.byName(r.physicalName())?.id ?? null; },
    ...(opts.withUpdate ? {
      async handleUpdate(r, change) {
        if (r.properties.fail) throw new Error(`Test Resource failed ${r.name}`);
        cloud.log.push(`update ${logical(r)} ${change.changed.join(',')}`);
        const o = cloud.objects.get(r.physicalId!);
        if (o) o.value = r.properties.value;
      },
    } : {}),
    async handleDelete(r) {
      cloud.log.push(`delete ${logical(r)}`);
      if (r.physicalId) cloud.objects.delete(r.physicalId);
    },
    async resolveAttribute(r, name) {
      const o = r.physicalId ? cloud.objects.get(r.physicalId) : undefined;
      if (name === 'output') return o?.value ?? null;
      if (name === 'name') return o?.name ?? null;
      return null;
    },
    async handleSignal(r, details) { cloud.log.push(`signal ${r.name} ${JSON.stringify(details)}`); },
    async handleCheck(r) {
      cloud.log.push(`check ${logical(r)}`);
      if (!r.physicalId || !cloud.objects.has(r.physicalId)) throw new Error(`${r.name} is gone`);
    },
    async handleSuspend(r) { cloud.log.push(`suspend ${logical(r)}`); },
    async handleResume(r) { cloud.log.push(`resume ${logical(r)}`); },
    pollMs: 10,
  });
  /** Records what it was given; its create waits while its gate is closed. */
  const probe: ResourcePlugin = {
    type: 'Test::Probe',
    description: 'Records its context.',
    properties: { required_one: { type: 'string', required: true } },
    attributes: { known: { description: 'A declared attribute.' } },
    async handleCreate(r) {
      cloud.seen.set(r.name, { timeoutMins: r.stack.timeoutMins, properties: r.properties, parentId: r.stack.parentId });
      await r.setPhysicalId(r.physicalName());
    },
    async checkCreateComplete(r) { return cloud.gates.get(r.name) !== false; },
    async handleDelete() {},
    async resolveAttribute(r, name) { return { name, path: [] }; },
    // Answers what it was asked, so a test sees the path arrive whole and not applied again.
    async resolveAttributePath(r, name, path) { return { name, path }; },
    pollMs: 10,
  };
  /** Takes any properties, though its schema declares a required one. */
  const anything: ResourcePlugin = { ...probe, type: 'Test::Anything', acceptsAnyProperties: true };
  return [thing('Test::Thing', { withUpdate: true }), thing('Test::Fixed', { withUpdate: false }), probe, anything];
}

export interface Harness {
  db: Database;
  tasks: TaskEngine;
  engine: Engine;
  cloud: FakeCloud;
  ctx: Context;
  caller: Caller;
  /** Simulates kill -9 of this engine and starts a new one on the same database. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(cloud = new FakeCloud()): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'heat-engine-'));
  const db = await openDatabase(join(dir, 'db.sqlite'));
  await migrate(db, HEAT_MIGRATIONS);
  const registry = createRegistry([...fakePlugins(cloud), ...HEAT_PLUGINS]);
  const log = { info() {}, warn() {}, error() {} };
  const client = () => ({ request: async () => { throw new Error('no client in tests'); }, find: async () => null }) as any;
  const boot = async () => {
    const tasks = new TaskEngine(db, { nodeId: 'node-1', concurrency: 4, pollMs: 20, leaseMs: 2000 });
    const ctx = { db, tasks, config: { region: 'RegionOne', publicUrl: 'http://127.0.0.1:1' }, log, services: {} } as unknown as Context;
    const engine = createEngine(ctx, { registry, client });
    engine.register();
    await tasks.start();
    return { tasks, ctx, engine };
  };
  const h: Harness = {
    db, cloud, ...(await boot()),
    caller: { userId: 'u1', projectId: 'p1', roles: ['member'], isAdmin: false },
    async restart() {
      await h.tasks.stop(0);
      h.engine.halt();
      Object.assign(h, await boot());
    },
    async close() {
      h.engine.halt();
      await h.tasks.stop(200);
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A HOT template of the given resources. */
export const hot = (resources: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({ heat_template_version: '2016-04-08', resources, ...extra });

/** Polls fn until it answers something truthy (10 s by default). */
export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}
