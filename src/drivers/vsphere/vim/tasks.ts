// Waits for vSphere tasks without polling each one: a property collector of our own holds one
// filter per task in flight (Task.info), and a single WaitForUpdatesEx loop hands each task's
// final state to its waiter. Each task is read once right after its filter exists, so a task
// that finished before (or while) the filter was made is not missed.
import type { LocalizedMethodFault, MoRef, TaskInfo, UpdateSet } from './types.ts';
import { asArray } from './xml.ts';
import type { VimClient } from './client.ts';
import { VimFault } from './client.ts';

interface Waiter {
  task: MoRef;
  method: string;
  filter?: MoRef;
  resolve: (info: TaskInfo) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const TERMINAL = new Set(['success', 'error']);
const WAIT_SECONDS = 20;

/** A task's error as a VimFault named after the fault's type (InvalidPowerState, FileNotFound …). */
export function taskFault(method: string, error: LocalizedMethodFault | undefined, task?: MoRef): VimFault {
  const name = error?.fault?._type ?? 'SystemError';
  const msg = error?.localizedMessage && !error.localizedMessage.startsWith('*types.') ? error.localizedMessage : name;
  return new VimFault(name, `${method}${task ? ` (${task.value})` : ''}: ${msg}`, error?.fault ?? {}, method);
}

export class TaskWatcher {
  private readonly client: VimClient;
  private readonly waiters = new Map<string, Waiter>();
  private collector: Promise<MoRef> | null = null;
  private version = '';
  private loop: Promise<void> | null = null;
  private closed = false;
  /** How long a task may take before its waiter gives up (the task may still finish on the server). */
  defaultTimeoutMs = 600_000;

  constructor(client: VimClient) {
    this.client = client;
    // Collectors and filters belong to a session: after a new login, make them again.
    client.onSession(() => {
      this.collector = null;
      this.version = '';
      for (const w of this.waiters.values()) delete w.filter;
      if (this.waiters.size) void this.refilter();
    });
  }

  async wait(task: MoRef, method: string, timeoutMs = this.defaultTimeoutMs): Promise<TaskInfo> {
    // Most vcsim tasks (and many vCenter ones) are done by the time we ask: one read settles them.
    const first = await this.read(task);
    if (first && TERMINAL.has(first.state)) return this.settle(method, first);
    return new Promise<TaskInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.drop(task.value);
        reject(new VimFault('Timeout', `${method} (${task.value}) did not finish within ${Math.round(timeoutMs / 1000)} s`, {}, method));
      }, timeoutMs);
      timer.unref();
      const w: Waiter = { task, method, timer, resolve, reject };
      this.waiters.set(task.value, w);
      void this.watch(w);
    });
  }

  async close() {
    this.closed = true;
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(new VimFault('RequestCanceled', `${w.method}: the vSphere client was closed`));
    }
    this.waiters.clear();
  }

  private settle(method: string, info: TaskInfo): TaskInfo {
    if (info.state === 'error') throw taskFault(method, info.error, info.task);
    return info;
  }

  private finish(w: Waiter, info: TaskInfo) {
    if (!this.waiters.has(w.task.value)) return;
    this.drop(w.task.value);
    try { w.resolve(this.settle(w.method, info)); } catch (e) { w.reject(e as Error); }
  }

  private drop(key: string) {
    const w = this.waiters.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiters.delete(key);
    if (w.filter) void this.client.call('DestroyPropertyFilter', w.filter).catch(() => undefined);
  }

  private async read(task: MoRef): Promise<TaskInfo | null> {
    const rv = await this.client.call<{ objects?: unknown } | undefined>('RetrievePropertiesEx', this.client.content.propertyCollector, {
      specSet: { propSet: { type: task.type, pathSet: ['info'] }, objectSet: { obj: task } },
      options: {},
    });
    const obj = asArray(rv?.objects as { propSet?: unknown }[] | undefined)[0];
    const prop = asArray(obj?.propSet as { name: string; val: TaskInfo }[] | undefined).find((p) => p.name === 'info');
    return prop?.val ?? null;
  }

  private async ensureCollector(): Promise<MoRef> {
    if (!this.collector) {
      this.collector = this.client.call<MoRef>('CreatePropertyCollector', this.client.content.propertyCollector);
      this.collector.catch(() => { this.collector = null; });
    }
    return this.collector;
  }

  /** Gives the waiter a filter, reads its task once more, and makes sure the loop runs. */
  private async watch(w: Waiter) {
    try {
      const pc = await this.ensureCollector();
      w.filter = await this.client.call<MoRef>('CreateFilter', pc, {
        spec: { propSet: { type: w.task.type, pathSet: ['info'] }, objectSet: { obj: w.task } },
        partialUpdates: false,
      });
      if (!this.waiters.has(w.task.value)) {
        void this.client.call('DestroyPropertyFilter', w.filter).catch(() => undefined);
        return;
      }
      const info = await this.read(w.task);
      if (info && TERMINAL.has(info.state)) return this.finish(w, info);
      this.startLoop();
    } catch (e) {
      if (e instanceof VimFault && e.fault === 'ManagedObjectNotFound') {
        // The task is gone (a vCenter restart forgets its tasks): nobody will ever know its result.
        this.drop(w.task.value);
        w.reject(new VimFault('ManagedObjectNotFound', `${w.method} (${w.task.value}): the task no longer exists on the vCenter; its outcome is unknown`, {}, w.method));
        return;
      }
      // A broken session or collector: the next login (or loop turn) makes a new filter.
      this.client.stats.retries++;
      setTimeout(() => { if (this.waiters.has(w.task.value) && !w.filter) void this.watch(w); }, 1_000).unref();
    }
  }

  private async refilter() {
    for (const w of [...this.waiters.values()]) if (!w.filter) await this.watch(w);
  }

  private startLoop() {
    if (this.loop || this.closed) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      if (this.waiters.size && !this.closed) this.startLoop();
    });
  }

  private async run() {
    while (this.waiters.size && !this.closed) {
      let set: UpdateSet | undefined;
      try {
        const pc = await this.ensureCollector();
        set = await this.client.call<UpdateSet | undefined>('WaitForUpdatesEx', pc, {
          version: this.version, options: { maxWaitSeconds: WAIT_SECONDS },
        }, { timeoutMs: (WAIT_SECONDS + 30) * 1000 });
      } catch (e) {
        if (this.closed) return;
        if (e instanceof VimFault && (e.fault === 'ManagedObjectNotFound' || e.fault === 'InvalidCollectorVersion')) {
          this.collector = null;
          this.version = '';
          for (const w of this.waiters.values()) delete w.filter;
          await this.refilter();
        } else {
          await new Promise((r) => setTimeout(r, 1_000));
        }
        continue;
      }
      if (!set) continue; // maxWaitSeconds passed without a change
      this.version = set.version;
      for (const fu of asArray(set.filterSet)) {
        for (const ou of asArray(fu.objectSet)) {
          const w = this.waiters.get(ou.obj.value);
          if (!w) continue;
          const change = asArray(ou.changeSet).find((c) => c.name === 'info');
          const info = change?.val as TaskInfo | undefined;
          if (info && TERMINAL.has(info.state)) this.finish(w, info);
          else if (ou.kind === 'leave') this.read(w.task).then((i) => i && TERMINAL.has(i.state) && this.finish(w, i), () => undefined);
        }
      }
    }
  }
}
