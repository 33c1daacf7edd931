// The sim-* commands work on the inventory file of a simulator that is running in another
// connection (here: a driver in this process, as the cloud would hold it): they read its state,
// and fault rules they write reach the running simulator.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtDriverError, PowerState, type InstanceSpec } from '../../core/virt.ts';
import { SimulatorDriver } from './index.ts';
import { SIM_COMMANDS } from './cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'vistack-simcli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(name: string, ...args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  try {
    await SIM_COMMANDS[name].run([...args, '--data-dir', dir]);
  } finally {
    console.log = log;
  }
  return lines.join('\n');
}

const flavor = { id: '1', name: 'm1.tiny', vcpus: 1, memoryMb: 512, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} };
const spec = (n: number, nodename: string): InstanceSpec => ({
  uuid: `11111111-0000-4000-8000-${String(n).padStart(12, '0')}`, name: `cli-${n}`, hostname: `cli-${n}`,
  projectId: 'p', userId: 'u', nodename, flavor, metadata: {},
});

test('sim-* commands read a running simulator and inject faults into it', async () => {
  const d = new SimulatorDriver({ dataDir: dir });
  await d.init();
  try {
    const [node] = await d.listNodes();
    await d.spawn(spec(1, node.nodename), null);

    const inv = JSON.parse(await run('sim-inventory', '--json'));
    assert.equal(inv.vms.length, 1);
    assert.equal(inv.vms[0].name, spec(1, '').uuid);
    assert.equal(inv.vms[0].powerState, 'poweredOn');
    const tree = await run('sim-inventory');
    assert.match(tree, /Cluster cluster1 \(domain-c\d+\)/);
    assert.match(tree, new RegExp(`${spec(1, '').uuid} "cli-1" poweredOn`));
    const one = JSON.parse(await run('sim-vm', spec(1, '').uuid));
    assert.equal(one.displayName, 'cli-1');
    await assert.rejects(run('sim-vm', 'no-such-vm'), /does not exist/);

    // A rule written by the CLI fails the running simulator's next CreateVM_Task.
    const id = await run('sim-fault-add', '--method', 'CreateVM_Task', '--fault', 'NoDiskSpace', '--count', '1');
    await assert.rejects(d.spawn(spec(2, node.nodename), null), (e: any) => e instanceof VirtDriverError && e.fault === 'NoDiskSpace');
    await d.spawn(spec(2, node.nodename), null);
    const rules = JSON.parse(await run('sim-faults', '--json'));
    assert.equal(rules.length, 1);
    assert.equal(rules[0].id, id);
    assert.equal(rules[0].remaining, 0, 'the running simulator used it up');

    // A hang set and released from outside.
    const hang = await run('sim-fault-add', '--method', 'PowerOffVM_Task', '--action', 'hang');
    const p = d.powerOff(spec(1, '').uuid);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    assert.equal(d.recentTasks().at(-1)!.state, 'running');
    await run('sim-fault-rm', hang);
    await p;
    assert.equal((await d.getInfo(spec(1, '').uuid))!.powerState, PowerState.SHUTDOWN);

    await run('sim-fault-rm', '--all');
    assert.equal(await run('sim-faults'), 'no fault rules');
    await assert.rejects(run('sim-fault-add', '--action', 'nope'), /'action'/);
    await assert.rejects(run('sim-fault-add', '--bogus', 'x'), /unknown option --bogus/);
    await assert.rejects(run('sim-fault-rm', 'missing-id'), /does not exist/);
  } finally {
    await d.close();
  }
  await assert.rejects(SIM_COMMANDS['sim-inventory'].run(['--data-dir', join(dir, 'nothing-here')]), /No simulator inventory/);
});
