// Helpers for this folder's tests.
import assert from 'node:assert/strict';
import type { FunctionContext, Template } from '../types.ts';
import { parseTemplate } from './parse.ts';

function check(e: any, status: number, type: string, message?: string | RegExp) {
  assert.equal(e?.status, status, e?.message);
  assert.equal(e.extra?.name, type, e.message);
  if (typeof message === 'string') assert.ok(e.message.includes(message), `"${e.message}" lacks "${message}"`);
  else if (message) assert.match(e.message, message);
  return true;
}

/** Asserts fn throws an ApiError with this status, type and message (substring or regexp). */
export function rejects(fn: () => unknown, status: number, type: string, message?: string | RegExp) {
  assert.throws(fn, (e: any) => check(e, status, type, message));
}

export async function rejectsAsync(fn: () => Promise<unknown>, status: number, type: string, message?: string | RegExp) {
  await assert.rejects(fn, (e: any) => check(e, status, type, message));
}

export function hot(version: string, body: Record<string, unknown> = {}): Template {
  return parseTemplate({ heat_template_version: version, ...body });
}

/** A FunctionContext with fixed resources: refs by name, attributes by name. */
export function fcFor(t: Template, opts: {
  params?: Record<string, unknown>; files?: Record<string, string>; conditions?: Record<string, boolean>;
  refs?: Record<string, string | null>; attrs?: Record<string, Record<string, unknown>>;
} = {}): FunctionContext & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    template: t, params: opts.params ?? {}, files: opts.files ?? {}, conditions: opts.conditions ?? {},
    getResource: (n) => (calls.push(`ref ${n}`), opts.refs?.[n] ?? null),
    getAttr: async (n, a) => (calls.push(`attr ${n} ${a}`), opts.attrs?.[n]?.[a] ?? null),
    getAllAttrs: async (n) => (calls.push(`all ${n}`), opts.attrs?.[n] ?? {}),
  };
}
