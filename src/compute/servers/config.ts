// Nova options of the servers part, read from the environment (with overrides a test may put on
// the Config object): DevStack's defaults.
import type { Context } from '../../core/service.ts';

export interface ServersConfig {
  /** [DEFAULT]reclaim_instance_interval (s): 0 = delete at once; > 0 = soft delete, reclaimed after it. */
  reclaimInstanceInterval: number;
  /** [DEFAULT]shelved_offload_time (s): 0 = offload at once (DevStack), -1 = never, > 0 = after that long. */
  shelvedOffloadTime: number;
  /** How often the reconciler runs (ms). */
  reconcileIntervalMs: number;
  /** [DEFAULT]resize_confirm_window (s): 0 = never auto-confirm. */
  resizeConfirmWindow: number;
}

function num(v: unknown, dflt: number): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? n : dflt;
}

export function serversConfig(ctx: Context): ServersConfig {
  const c = ctx.config as unknown as Record<string, unknown>;
  const env = process.env;
  return {
    reclaimInstanceInterval: num(c.reclaimInstanceInterval ?? env.VISTACK_RECLAIM_INSTANCE_INTERVAL, 0),
    shelvedOffloadTime: num(c.shelvedOffloadTime ?? env.VISTACK_SHELVED_OFFLOAD_TIME, 0),
    reconcileIntervalMs: num(c.reconcileIntervalMs ?? env.VISTACK_RECONCILE_INTERVAL_MS, 10_000),
    resizeConfirmWindow: num(c.resizeConfirmWindow ?? env.VISTACK_RESIZE_CONFIRM_WINDOW, 0),
  };
}
