// Helpers shared by the OS::Heat::* plugins: deadlines kept in resource data (waits never block
// the event loop), the signal URL handed to guests, nested stack status as a completion check.
import { randomBytes } from 'node:crypto';
import type { Context } from '../../../core/service.ts';
import type { ResourceContext } from '../../types.ts';

/**
 * The unauthenticated signal URL of a resource. Indirect so unit tests can replace it: the real
 * one lives in ../../signal_url.ts (written by the coordinator).
 */
export const signalUrls = {
  async of(ctx: Context, stackId: string, resourceName: string): Promise<string> {
    const mod = await import('../../signal_url.ts');
    return mod.signalUrl(ctx, stackId, resourceName);
  },
};

/** Records a deadline `secs` from now under `key` (once per action: a retry keeps the first). */
export async function startWait(r: ResourceContext, key: string, secs: number, force = false): Promise<void> {
  if (!force && r.data[key]) return;
  const until = secs < 0 ? 'never' : String(Date.now() + Math.max(0, secs) * 1000);
  await r.setData(key, until);
}

/** True once the deadline under `key` has passed (no deadline recorded: done). */
export function waitOver(r: ResourceContext, key: string): boolean {
  const v = r.data[key];
  if (!v) return true;
  if (v === 'never') return false;
  return Date.now() >= Number(v);
}

/** Completion of a nested stack operation: throws on FAILED with the nested reason. */
export async function nestedDone(r: ResourceContext, stackId: string | null, action: 'CREATE' | 'UPDATE'): Promise<boolean> {
  if (!stackId) return false;
  const s = await r.nested.status(stackId);
  if (!s) throw new Error(`Nested stack ${stackId} not found`);
  if (s.status === 'FAILED') throw new Error(s.reason || `${action} of nested stack failed`);
  return s.action === action && s.status === 'COMPLETE';
}

export async function nestedDeleted(r: ResourceContext, stackId: string | null): Promise<boolean> {
  if (!stackId) return true;
  const s = await r.nested.status(stackId);
  if (!s) return true;
  if (s.action === 'DELETE' && s.status === 'FAILED') throw new Error(s.reason || 'Delete of nested stack failed');
  return s.action === 'DELETE' && s.status === 'COMPLETE';
}

/** Heat's short ids: 12 lowercase letters and digits (names of scaling group members). */
export function shortId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** get_attr path applied to a value (maps by key, lists by index); missing → null. */
export function selectPath(value: unknown, path: unknown[]): unknown {
  let v: any = value;
  for (const p of path) {
    if (v === null || v === undefined) return null;
    if (typeof v === 'string' && (v.startsWith('{') || v.startsWith('['))) {
      try { v = JSON.parse(v); } catch { return null; }
    }
    if (Array.isArray(v)) v = v[Number(p)];
    else if (typeof v === 'object') v = v[String(p)];
    else return null;
  }
  return v ?? null;
}

export const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
