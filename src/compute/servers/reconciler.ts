// The reconciler: a periodic pass (one driver list call, then per-instance power checks) that
// keeps the database and the backend in agreement, as nova-compute's periodic tasks do:
//  1. destroys backend VMs that belong to no live instance (orphans: e.g. a VM spawned by a
//     build whose server was deleted meanwhile, or left by a crash);
//  2. syncs power states from the driver (_sync_power_states): a VM powered off behind our back
//     makes an ACTIVE server SHUTOFF, a running VM of a STOPPED server is powered off again;
//  3. never leaves a server in a transition without the task that drives it: a BUILD server whose
//     task is gone goes ERROR, any other task_state without a task is cleared;
//  4. reclaims soft-deleted servers after reclaim_instance_interval, offloads shelved servers after
//     shelved_offload_time and confirms resizes after resize_confirm_window.
import type { Context } from '../../core/service.ts';
import { PowerState, type InstanceInfo } from '../../core/virt.ts';
import { addFault, instanceFromRow, updateInstance, VM } from './db.ts';
import { recordAction } from './instance_actions.ts';
import { ACTION, DELETE } from './tasks.ts';
import { serversConfig } from './config.ts';

const PENDING_TASK = `EXISTS (SELECT 1 FROM tasks k WHERE k.resource_id = instances.uuid AND k.state IN ('pending', 'running'))`;

export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private ctx: Context;
  constructor(ctx: Context) { this.ctx = ctx; }

  start(intervalMs = serversConfig(this.ctx).reconcileIntervalMs) {
    if (this.timer || intervalMs <= 0) return;
    this.timer = setInterval(() => { void this.tick(); }, intervalMs);
    this.timer.unref();
  }

  async stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.running) await this.running;
  }

  /** One pass (skipped if the previous one still runs). */
  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.pass().catch((e) => this.ctx.log.error('servers reconciler pass failed', e)).finally(() => { this.running = null; });
    return this.running;
  }

  private async pass() {
    await this.orphans();
    await this.stuck();
    await this.powerStates();
    await this.periodic();
  }

  /** 1. Backend VMs without a live instance. */
  private async orphans() {
    const { ctx } = this;
    // List the backend first: any VM it shows was spawned for a row that already existed.
    const vms = await ctx.driver.listInstances();
    if (!vms.length) return;
    const live = new Set<string>();
    for (let i = 0; i < vms.length; i += 500) {
      const chunk = vms.slice(i, i + 500);
      for (const r of await ctx.db.all(`SELECT uuid FROM instances WHERE deleted = 0 AND uuid IN (${chunk.map(() => '?').join(',')})`, chunk)) live.add(r.uuid);
    }
    for (const uuid of vms) {
      if (live.has(uuid)) continue;
      try {
        await ctx.driver.destroy(uuid);
        ctx.log.warn(`reconciler: destroyed orphan VM ${uuid} (no live instance)`);
      } catch (e) { ctx.log.warn(`reconciler: could not destroy orphan VM ${uuid}`, e); }
    }
  }

  /** 3. Transitions whose task is gone (failed, or lost): building → ERROR, others cleared. */
  private async stuck() {
    const { ctx } = this;
    const rows = await ctx.db.all(`SELECT * FROM instances WHERE deleted = 0 AND (task_state IS NOT NULL OR vm_state = 'building') AND NOT ${PENDING_TASK}`);
    for (const r of rows) {
      const inst = instanceFromRow(r);
      await ctx.db.tx(async (t) => {
        const still = await t.get(`SELECT 1 AS x FROM instances WHERE uuid = ? AND deleted = 0 AND vm_state = ?
          AND ${inst.taskState === null ? 'task_state IS NULL' : 'task_state = ?'} AND NOT ${PENDING_TASK}`,
          inst.taskState === null ? [inst.uuid, inst.vmState] : [inst.uuid, inst.vmState, inst.taskState]);
        if (!still) return;
        if (inst.vmState === VM.BUILDING) {
          await updateInstance(t, inst.uuid, { vm_state: VM.ERROR, task_state: null });
          await addFault(t, inst.uuid, 500, 'Build of instance was interrupted and its build task is gone.', null, inst.host);
          ctx.log.warn(`reconciler: server ${inst.uuid} was left building without a task; set to ERROR`);
        } else if (inst.taskState === 'deleting') {
          // A delete must finish: queue it again.
          const actionId = await recordAction(t, { uuid: inst.uuid, action: 'delete', requestId: `req-reconcile-${inst.uuid}`, userId: null, projectId: inst.projectId });
          await ctx.tasks.enqueue(t, DELETE, { uuid: inst.uuid, actionId }, { resourceId: inst.uuid });
        } else {
          await updateInstance(t, inst.uuid, { task_state: null });
          ctx.log.warn(`reconciler: cleared task_state ${inst.taskState} of server ${inst.uuid} (no task)`);
        }
      });
    }
  }

  /** 2. Power states (only servers with no task in progress, as Nova's sync skips those). */
  private async powerStates() {
    const { ctx } = this;
    const rows = await ctx.db.all(`SELECT * FROM instances WHERE deleted = 0 AND task_state IS NULL AND node IS NOT NULL
      AND vm_state IN ('active', 'stopped', 'paused', 'suspended', 'rescued', 'resized', 'shelved', 'error')`);
    if (!rows.length) return;
    // One backend read for all of them (a vCenter answers one property read for every VM).
    let infos: Map<string, InstanceInfo>;
    try { infos = new Map((await ctx.driver.listInstanceInfo()).map((i) => [i.uuid, i])); } catch (e) {
      ctx.log.warn('reconciler: could not read the power states from the driver', e);
      return;
    }
    for (const r of rows) {
      const inst = instanceFromRow(r);
      const info = infos.get(inst.uuid) ?? null;
      const power = info ? info.powerState : PowerState.NOSTATE;
      if (!info) {
        // As Nova's _sync_power_states: a VM missing from the hypervisor is reported (power state
        // NOSTATE and an instance fault, once), never acted on: the backend may be restarting.
        if (inst.powerState !== PowerState.NOSTATE) {
          await updateInstance(ctx.db, inst.uuid, { power_state: power }, { expectTask: [null], expectVm: [inst.vmState] });
          if (inst.vmState !== VM.ERROR) await addFault(ctx.db, inst.uuid, 404, `The VM of server ${inst.uuid} is not found on the hypervisor (${ctx.driver.name}).`, null, inst.host);
          ctx.log.warn(`reconciler: the VM of server ${inst.uuid} is not found on the backend; power state NOSTATE`);
        }
        continue;
      }
      const cas = { expectTask: [null] as (string | null)[], expectVm: [inst.vmState] };
      if (power !== inst.powerState) await updateInstance(ctx.db, inst.uuid, { power_state: power }, cas);
      const off = power === PowerState.SHUTDOWN || power === PowerState.CRASHED;
      if ((inst.vmState === VM.ACTIVE || inst.vmState === VM.PAUSED || inst.vmState === VM.SUSPENDED) && off) {
        // Stopped outside Nova: the server becomes SHUTOFF (Nova calls its stop API).
        await updateInstance(ctx.db, inst.uuid, { vm_state: VM.STOPPED, power_state: power }, cas);
        ctx.log.warn(`reconciler: server ${inst.uuid} was powered off outside Vistack; now SHUTOFF`);
      } else if (inst.vmState === VM.STOPPED && info && power === PowerState.RUNNING) {
        // Started outside Nova: Nova forces it off again.
        await this.enqueueAction(inst.uuid, 'stop', 'stop', 'powering-off', VM.STOPPED);
      }
    }
  }

  private async enqueueAction(uuid: string, action: string, op: string, taskState: string, vmState: string, payload: Record<string, unknown> = {}) {
    const { ctx } = this;
    await ctx.db.tx(async (t) => {
      const ok = await updateInstance(t, uuid, { task_state: taskState }, { expectTask: [null], expectVm: [vmState] });
      if (!ok) return;
      const r = await t.get('SELECT project_id FROM instances WHERE uuid = ?', [uuid]);
      const actionId = await recordAction(t, { uuid, action, requestId: `req-periodic-${uuid}-${Date.now()}`, userId: null, projectId: r?.project_id ?? null });
      await ctx.tasks.enqueue(t, ACTION, { uuid, op, actionId, expect: taskState, ...payload }, { resourceId: uuid });
    });
  }

  /** 4. Time-based transitions. */
  private async periodic() {
    const { ctx } = this;
    const cfg = serversConfig(ctx);
    const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
    if (cfg.reclaimInstanceInterval > 0) {
      for (const r of await ctx.db.all(`SELECT uuid FROM instances WHERE deleted = 0 AND vm_state = 'soft-delete' AND task_state IS NULL AND deleted_at <= ?`, [ago(cfg.reclaimInstanceInterval)])) {
        await ctx.db.tx(async (t) => {
          if (!(await updateInstance(t, r.uuid, { task_state: 'deleting' }, { expectTask: [null], expectVm: [VM.SOFT_DELETED] }))) return;
          await ctx.tasks.enqueue(t, DELETE, { uuid: r.uuid }, { resourceId: r.uuid });
        });
      }
    }
    if (cfg.shelvedOffloadTime > 0) {
      for (const r of await ctx.db.all(`SELECT uuid, system_metadata FROM instances WHERE deleted = 0 AND vm_state = 'shelved' AND task_state IS NULL`)) {
        const at = JSON.parse(r.system_metadata || '{}').shelved_at;
        if (at && at <= ago(cfg.shelvedOffloadTime)) await this.enqueueAction(r.uuid, 'shelveOffload', 'shelve_offload', 'shelving_offloading', VM.SHELVED);
      }
    }
    if (cfg.resizeConfirmWindow > 0) {
      for (const r of await ctx.db.all(`SELECT uuid FROM instances WHERE deleted = 0 AND vm_state = 'resized' AND task_state IS NULL AND updated_at <= ?`, [ago(cfg.resizeConfirmWindow)])) {
        await this.enqueueAction(r.uuid, 'confirmResize', 'confirm_resize', 'resize_confirming', VM.RESIZED);
      }
    }
  }
}
