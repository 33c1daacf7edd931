// OS::Heat::WaitConditionHandle and OS::Heat::WaitCondition: the handle collects signals
// (folded by signal id, kept in heat_wait_condition_handles), the condition completes once the
// handle holds `count` SUCCESS signals, and fails on a FAILURE signal or after `timeout` seconds.
import { fromJson, toJson } from '../../../core/db/index.ts';
import type { Queryable } from '../../../core/db/index.ts';
import { uuid } from '../../../core/ids.ts';
import type { ResourceContext, ResourcePlugin } from '../../types.ts';
import { validationFailed } from '../../types.ts';
import { signalUrls, startWait, waitOver } from './common.ts';

export interface WaitSignal { status: 'SUCCESS' | 'FAILURE'; reason: string; data: unknown }

const TRANSPORTS = ['CFN_SIGNAL', 'TEMP_URL_SIGNAL', 'HEAT_SIGNAL', 'NO_SIGNAL', 'ZAQAR_SIGNAL', 'TOKEN_SIGNAL'];
// Every transport that ends in a POST to this cloud's signal URL is served by it.
const SERVED = ['CFN_SIGNAL', 'HEAT_SIGNAL', 'NO_SIGNAL', 'TOKEN_SIGNAL'];

export async function handleSignals(db: Queryable, handleId: string): Promise<Record<string, WaitSignal> | null> {
  const row = await db.get('SELECT signals FROM heat_wait_condition_handles WHERE id = ?', [handleId]);
  return row ? fromJson(row.signals, {}) : null;
}

export const WaitConditionHandle: ResourcePlugin = {
  type: 'OS::Heat::WaitConditionHandle',
  description: 'Receives signals for an OS::Heat::WaitCondition: POST {"status": "SUCCESS"|"FAILURE", "reason", "data", "id"} to its endpoint.',
  supportStatus: { status: 'SUPPORTED', version: '2014.2' },
  properties: {
    signal_transport: {
      type: 'string', description: 'How the handle is signalled; TOKEN_SIGNAL gives an endpoint to POST to.', default: 'TOKEN_SIGNAL',
      constraints: [{ allowed_values: TRANSPORTS }], support_status: { status: 'SUPPORTED', version: '6.0.0' },
    },
  },
  attributes: {
    token: { description: 'Token to signal the handle with (the endpoint needs none in this cloud).', type: 'string' },
    endpoint: { description: 'URL to POST signals to.', type: 'string' },
    curl_cli: { description: 'A curl command line that signals the handle; append --data-binary with the signal.', type: 'string' },
    signal: { description: 'JSON map of what a client needs to signal the handle (depends on signal_transport).', type: 'string' },
  },
  async validate(p) {
    const t = p.signal_transport ?? 'TOKEN_SIGNAL';
    if (!SERVED.includes(t)) throw validationFailed(`signal_transport ${t} is not supported by this cloud`);
  },
  async handleCreate(r) {
    const id = r.physicalId ?? r.data.handle_id ?? uuid();
    if (!r.data.handle_id) await r.setData('handle_id', id);
    const db = r.cloud.db;
    if (!(await db.get('SELECT id FROM heat_wait_condition_handles WHERE id = ?', [id]))) {
      await db.run('INSERT INTO heat_wait_condition_handles (id, stack_id, signals, updated_at) VALUES (?, ?, ?, ?)',
        [id, r.stack.id, '{}', new Date().toISOString()]);
    }
    if (r.physicalId !== id) await r.setPhysicalId(id);
  },
  async handleDelete(r) {
    if (r.physicalId) await r.cloud.db.run('DELETE FROM heat_wait_condition_handles WHERE id = ?', [r.physicalId]);
  },
  async resolveAttribute(r, name) {
    const endpoint = await signalUrls.of(r.cloud, r.stack.id, r.name);
    switch (name) {
      case 'endpoint': return endpoint;
      case 'token': return '';
      case 'curl_cli': return `curl -i -X POST -H 'Content-Type: application/json' -H 'Accept: application/json' ${endpoint}`;
      case 'signal': return JSON.stringify({ endpoint });
    }
    return null;
  },
  async handleSignal(r, details) {
    const d: any = details === null || details === undefined ? {} : details;
    if (typeof d !== 'object' || Array.isArray(d)) throw validationFailed('Metadata format invalid', 'BadRequest');
    const status = d.status ?? 'SUCCESS';
    if (status !== 'SUCCESS' && status !== 'FAILURE') throw validationFailed('Metadata format invalid', 'BadRequest');
    if (!r.physicalId) throw validationFailed(`The handle ${r.name} does not exist yet`, 'BadRequest');
    const id = r.physicalId;
    const folded = await r.cloud.db.tx(async (t) => {
      await t.lock(`heat:wait-handle:${id}`);
      const signals = (await handleSignals(t, id)) ?? {};
      // A signal without an id is the next one by number; one with a known id replaces it.
      const n = Object.keys(signals).length + 1;
      const key = d.id !== undefined && d.id !== null ? String(d.id) : String(n);
      signals[key] = { status, reason: d.reason ?? `Signal ${n} received`, data: d.data ?? null };
      await t.run('UPDATE heat_wait_condition_handles SET signals = ?, updated_at = ? WHERE id = ?', [toJson(signals), new Date().toISOString(), id]);
      return signals;
    });
    await r.setMetadata(folded);
  },
};

async function signalsFor(r: ResourceContext): Promise<Record<string, WaitSignal>> {
  return (await handleSignals(r.cloud.db, String(r.properties.handle))) ?? {};
}

export const WaitCondition: ResourcePlugin = {
  type: 'OS::Heat::WaitCondition',
  description: 'Waits until its handle has received `count` success signals; a failure signal or the timeout fails it.',
  supportStatus: { status: 'SUPPORTED', version: '2014.2' },
  properties: {
    handle: { type: 'string', description: 'The OS::Heat::WaitConditionHandle that receives the signals.', required: true },
    timeout: { type: 'number', description: 'Seconds to wait for the signals.', required: true, constraints: [{ range: { min: 1, max: 43200 } }] },
    count: { type: 'integer', description: 'How many success signals to wait for.', default: 1, update_allowed: true, constraints: [{ range: { min: 1 } }] },
  },
  attributes: {
    data: { description: 'JSON map of the signals\' ids to the data they carried.', type: 'string' },
  },
  async handleCreate(r) {
    if (!(await handleSignals(r.cloud.db, String(r.properties.handle)))) {
      throw new Error(`${r.properties.handle} is not a valid wait condition handle`);
    }
    await startWait(r, 'deadline', Number(r.properties.timeout));
    if (!r.physicalId) await r.setPhysicalId(r.physicalName());
  },
  async checkCreateComplete(r) {
    const signals = Object.values(await signalsFor(r));
    const failures = signals.filter((s) => s.status === 'FAILURE');
    if (failures.length) {
      const e = new Error(failures.map((s) => s.reason).join('; '));
      e.name = 'WaitConditionFailure';
      throw e;
    }
    const ok = signals.filter((s) => s.status === 'SUCCESS').length;
    const count = r.properties.count ?? 1;
    if (ok >= count) return true;
    if (waitOver(r, 'deadline')) {
      const e = new Error(`${ok} of ${count} received`);
      e.name = 'WaitConditionTimeout';
      throw e;
    }
    return false;
  },
  async handleUpdate(r) { await startWait(r, 'deadline', Number(r.properties.timeout), true); },
  async checkUpdateComplete(r) { return WaitCondition.checkCreateComplete!(r); },
  async handleDelete() { /* the handle owns the signals */ },
  async resolveAttribute(r, name) {
    if (name !== 'data') return null;
    const signals = await signalsFor(r);
    return JSON.stringify(Object.fromEntries(Object.entries(signals).map(([k, s]) => [k, s.data])));
  },
};
