// The capabilities of this cloud's one volume backend (what scheduler-stats/get_pools reports
// per pool) and Cinder's CapabilitiesFilter over them: a volume type's extra specs that are
// unscoped or scoped "capabilities:" must match a pool's capability (with the extra_specs_ops
// operators: <is>, <in>, <or>, ==, >=, s== ...), else no backend takes the volume. Specs of other
// scopes (vmware:..., volume_backend_name-free qos and the like) are not the filter's business.
import type { VolumePool } from '../core/virt.ts';

export const BACKEND_NAME = 'vmdk';

/** The capabilities of one pool (a datastore), as Cinder's VMDK driver reports them. */
export function poolCapabilities(p: VolumePool): Record<string, unknown> {
  return {
    pool_name: p.name, volume_backend_name: BACKEND_NAME, vendor_name: 'VMware', driver_version: '1.0', storage_protocol: 'vmdk',
    total_capacity_gb: p.totalCapacityGb, free_capacity_gb: p.freeCapacityGb, provisioned_capacity_gb: p.provisionedCapacityGb,
    thin_provisioning_support: true, thick_provisioning_support: true, reserved_percentage: 0, multiattach: true,
  };
}

const TRUE = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
/** oslo's non-strict bool_from_string. */
const pyBool = (v: unknown) => (typeof v === 'boolean' ? v : TRUE.has(String(v).trim().toLowerCase()));
const float = (v: unknown) => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (Number.isNaN(n)) throw new RangeError('not a number');
  return n;
};

const OPS: Record<string, (x: unknown, y: string) => boolean> = {
  '=': (x, y) => float(x) >= float(y),
  '<in>': (x, y) => String(x).includes(y),
  '<is>': (x, y) => pyBool(x) === pyBool(y),
  '==': (x, y) => float(x) === float(y),
  '!=': (x, y) => float(x) !== float(y),
  '>=': (x, y) => float(x) >= float(y),
  '<=': (x, y) => float(x) <= float(y),
  's==': (x, y) => x === y,
  's!=': (x, y) => x !== y,
  's<': (x, y) => String(x) < y,
  's<=': (x, y) => String(x) <= y,
  's>': (x, y) => String(x) > y,
  's>=': (x, y) => String(x) >= y,
};

/** extra_specs_ops.match: one capability value against one requirement. */
export function matchSpec(value: unknown, req: string): boolean {
  const words = req.split(/\s+/).filter(Boolean);
  const op = words.shift();
  const method = op ? OPS[op] : undefined;
  // Without an operator the strings must be equal (a number or boolean never equals a string).
  if (op !== '<or>' && !method) return value === req;
  if (value === null || value === undefined) return false;
  if (op === '<or>') {
    while (words.length) {
      if (words.shift() === String(value)) return true;
      if (!words.length) break;
      words.shift();
    }
    return false;
  }
  try { return words.length > 0 && method!(value, words[0]); } catch { return false; }
}

/** CapabilitiesFilter: does some pool satisfy the type's extra specs? */
export function satisfiesExtraSpecs(pools: VolumePool[], extraSpecs: Record<string, string>): boolean {
  return pools.some((p) => {
    const caps = poolCapabilities(p);
    for (const [key, req] of Object.entries(extraSpecs)) {
      const scope = key.split(':');
      if (scope.length > 1 && scope[0] !== 'capabilities') continue;
      if (scope[0] === 'capabilities') scope.shift();
      let cap: unknown = caps;
      for (const s of scope) {
        if (!cap || typeof cap !== 'object' || !(s in (cap as object))) return false;
        cap = (cap as Record<string, unknown>)[s];
      }
      const values = Array.isArray(cap) ? cap : [cap];
      if (!values.some((x) => matchSpec(x, req))) return false;
    }
    return true;
  });
}
