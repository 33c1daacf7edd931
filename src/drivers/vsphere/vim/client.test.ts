// The vim25 client against VMware's vcsim over TLS (its certificate trusted through a CA file):
// login, faults by type, tasks settled through WaitForUpdatesEx, a session that expires, and a
// vCenter that goes away and comes back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startVcsim, vcsimTestOptions, type Vcsim } from '../testing.ts';
import { VimClient, VimFault, VimConnectionError } from './client.ts';
import { listObjects } from './props.ts';
import type { MoRef } from './types.ts';

describe('VimClient against vcsim', vcsimTestOptions(), () => {
  let sim: Vcsim;
  let client: VimClient;
  const open = (over: Partial<ConstructorParameters<typeof VimClient>[0]> = {}) => new VimClient({
    url: sim.url, username: sim.username, password: sim.password, ca: readFileSync(sim.caFile), keepAliveMs: 0, ...over,
  });
  const vms = async (c = client) => listObjects<{ name: string; 'runtime.powerState': string }>(c, c.content.rootFolder, 'VirtualMachine', ['name', 'runtime.powerState']);

  before(async () => {
    sim = await startVcsim({ methodDelay: { PowerOnVM_Task: 1500 } });
    client = open();
    await client.connect();
  });
  after(async () => { await client?.close(); await sim?.stop(); });

  it('logs in over TLS with the CA file and reads the service content', () => {
    assert.equal(client.content.about.apiType, 'VirtualCenter');
    assert.match(client.instanceUuid, /^[0-9a-f-]{36}$/);
  });

  it('refuses a certificate it was not told to trust', async () => {
    const c = open({ ca: undefined, retryDeadlineMs: 0 });
    await assert.rejects(c.connect(), VimConnectionError);
  });

  it('maps a wrong password to InvalidLogin', async () => {
    const c = open({ password: 'wrong' });
    await assert.rejects(c.connect(), (e: VimFault) => e.fault === 'InvalidLogin');
  });

  it('decodes faults by their type (ManagedObjectNotFound)', async () => {
    await assert.rejects(client.call('PowerOffVM_Task', { type: 'VirtualMachine', value: 'vm-999999' }),
      (e: VimFault) => e instanceof VimFault && e.fault === 'ManagedObjectNotFound');
  });

  it('settles slow tasks through one WaitForUpdatesEx loop, and maps task errors', async () => {
    const all = await vms();
    const on = all.filter((v) => v.props['runtime.powerState'] === 'poweredOn').map((v) => v.ref);
    await Promise.all(on.map((r) => client.runTask('PowerOffVM_Task', r)));
    const before = client.stats.calls;
    await Promise.all(on.map((r) => client.runTask('PowerOnVM_Task', r))); // 1.5 s each on the server
    const calls = client.stats.calls - before;
    // Polling every 100 ms for 1.5 s would take ≥15 reads per task; the collector needs a handful in all.
    assert.ok(calls < on.length * 6, `${calls} calls for ${on.length} slow tasks`);
    assert.ok((await vms()).filter((v) => on.some((r) => r.value === v.ref.value)).every((v) => v.props['runtime.powerState'] === 'poweredOn'));
    await assert.rejects(client.runTask('PowerOnVM_Task', on[0] as MoRef), (e: VimFault) => e.fault === 'InvalidPowerState');
  });

  it('logs in again when the session is gone, once for many callers', async () => {
    await client.call('Logout', client.content.sessionManager!);
    const logins = client.stats.logins;
    const results = await Promise.all([vms(), vms(), vms()]);
    assert.ok(results.every((r) => r.length > 0));
    assert.equal(client.stats.logins, logins + 1);
  });

  it('waits for a vCenter that restarts, then logs in to it again', async () => {
    const c = open({ retryDeadlineMs: 30_000 });
    await c.connect();
    try {
      await sim.kill();
      const pending = vms(c); // connection refused until it is back
      await new Promise((r) => setTimeout(r, 500));
      await sim.restart();
      assert.ok((await pending).length > 0);
      assert.ok(c.stats.retries > 0);
      assert.ok(c.stats.logins >= 2, 'the restarted vCenter forgot the session');
    } finally {
      await c.close();
    }
  });

  it('gives up with HostCommunication once the retry deadline passes', async () => {
    const c = open({ retryDeadlineMs: 1_000 });
    await c.connect();
    await sim.kill();
    try {
      await assert.rejects(vms(c), (e: VimConnectionError) => e.fault === 'HostCommunication');
    } finally {
      await sim.restart();
      await c.close();
      // the shared client of the other tests logs in again on its next call
    }
  });
});
