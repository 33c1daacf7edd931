// Operator/test commands on the simulator's own inventory file (<dataDir>/vsphere-sim/inventory.db),
// usable while the cloud runs: SQLite in WAL mode lets them read alongside it, and fault rules
// written here are picked up by the running simulator at its next task.
import { existsSync } from 'node:fs';
import type { Command } from '../../cli-commands.ts';
import { loadConfig } from '../../core/config.ts';
import { SimVCenter, validateFault, GiB } from './vcenter.ts';
import { InventoryStore, inventoryFile } from './inventory.ts';

interface Parsed { flags: Record<string, string | true>; rest: string[] }

function parse(args: string[], valued: string[]): Parsed {
  const flags: Record<string, string | true> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) { rest.push(a); continue; }
    const [k, v] = a.slice(2).split('=', 2);
    if (valued.includes(k)) {
      const val = v ?? args[++i];
      if (val === undefined) throw new Error(`--${k} needs a value`);
      flags[k] = val;
    } else {
      if (v !== undefined) throw new Error(`--${k} takes no value`);
      flags[k] = true;
    }
  }
  return { flags, rest };
}

function dataDir(p: Parsed) {
  return typeof p.flags['data-dir'] === 'string' ? p.flags['data-dir'] : loadConfig().dataDir;
}

function checkFlags(p: Parsed, allowed: string[]) {
  for (const k of Object.keys(p.flags)) if (!allowed.includes(k)) throw new Error(`unknown option --${k}`);
}

const gib = (b: number) => `${(b / GiB).toFixed(b < 10 * GiB ? 2 : 0)} GiB`;

/** The inventory as an indented tree, for people. */
export function inventoryTree(vc: SimVCenter, showVms = true): string {
  const inv = vc.inventory();
  const out: string[] = [`vCenter ${inv.about.version} (build ${inv.about.build}), instance ${inv.about.instanceUuid}`];
  for (const dc of inv.datacenters) {
    out.push(`Datacenter ${dc.name} (${dc.moref})`);
    for (const c of dc.clusters) {
      const vms = inv.vms.filter((v) => v.cluster === c.moref);
      const on = vms.filter((v) => v.powerState === 'poweredOn').length;
      out.push(`  Cluster ${c.name} (${c.moref})  nodename ${c.nodename}  compute service ${c.computeHost}  VMs ${vms.length} (${on} poweredOn)`);
      for (const h of c.hosts) {
        out.push(`    Host ${h.name} (${h.moref})  ${h.cpuModel}, ${h.sockets} sockets, ${h.cores} cores @ ${h.mhz} MHz, ${Math.round(h.memoryMb / 1024)} GiB  -- ${h.allocated.vms} VMs, ${h.allocated.vcpus} vCPU, ${Math.round(h.allocated.memoryMb / 1024)} GiB configured`);
      }
      for (const m of c.datastores) {
        const d = dc.datastores.find((x) => x.moref === m)!;
        out.push(`    Datastore ${d.name} (${d.moref}, ${d.type})  capacity ${gib(d.capacityBytes)}, free ${gib(d.freeSpace)}, provisioned ${gib(d.provisioned)}`);
      }
    }
    for (const s of dc.switches) {
      out.push(`  DistributedVirtualSwitch ${s.name} (${s.moref})`);
      for (const pg of s.portgroups) out.push(`    Portgroup ${pg.name} (${pg.moref})${pg.uplink ? ' uplink' : ''}${pg.vlanId ? ` vlan ${pg.vlanId}` : ''}`);
    }
  }
  const cache = inv.files.filter((f) => f.kind === 'image-cache');
  const vols = inv.files.filter((f) => f.kind === 'volume');
  out.push(`Image cache: ${cache.length} file(s)`);
  for (const f of cache) out.push(`  ${f.path}  ${f.committed} bytes`);
  out.push(`Volume VMDKs: ${vols.length}`);
  for (const f of vols) out.push(`  ${f.path}  ${gib(f.capacityKb * 1024)}`);
  out.push(`Virtual machines: ${inv.vms.length}`);
  if (showVms) {
    for (const v of inv.vms) {
      out.push(`  ${v.moref} ${v.name} "${v.displayName ?? ''}" ${v.powerState}${v.rescued ? ' (rescue)' : ''}  ${v.hostName}  ${v.numCpu} vCPU ${v.memoryMB} MB${v.owner ? '' : '  [not managed by vistack]'}`);
      for (const d of v.disks) out.push(`    disk ${d.key} ${d.kind} ${d.fileName} ${gib(d.capacityKB * 1024)}${d.parent ? ` <- ${d.parent}` : ''}`);
      for (const n of v.nics) out.push(`    nic ${n.key} ${n.type} ${n.macAddress} -> ${n.portgroupName} (port ${n.portId})`);
    }
  }
  return out.join('\n');
}

function withView<T>(dir: string, fn: (vc: SimVCenter) => T): T {
  const vc = new SimVCenter({ dataDir: dir, readOnly: true });
  try { return fn(vc); } finally { vc.close(); }
}

function withStore<T>(dir: string, fn: (s: InventoryStore) => T): T {
  const file = inventoryFile(dir);
  if (!existsSync(file)) throw new Error(`No simulator inventory at ${file}`);
  const s = new InventoryStore(file);
  try { return fn(s); } finally { s.close(); }
}

export const SIM_COMMANDS: Record<string, Command> = {
  'sim-inventory': {
    help: 'print the vSphere simulator inventory of VISTACK_DATA_DIR [--json] [--no-vms] [--data-dir DIR]',
    async run(args) {
      const p = parse(args, ['data-dir']);
      checkFlags(p, ['json', 'no-vms', 'data-dir']);
      withView(dataDir(p), (vc) => {
        console.log(p.flags.json ? JSON.stringify(vc.inventory(), null, 2) : inventoryTree(vc, !p.flags['no-vms']));
      });
    },
  },
  'sim-vm': {
    help: 'show one simulated VM as JSON: sim-vm <name|moref> [--data-dir DIR]',
    async run(args) {
      const p = parse(args, ['data-dir']);
      checkFlags(p, ['data-dir']);
      if (p.rest.length !== 1) throw new Error('usage: sim-vm <name|moref>');
      withView(dataDir(p), (vc) => {
        const vm = vc.vm(p.rest[0]) ?? vc.allVms().find((v) => v.moref === p.rest[0]);
        if (!vm) throw new Error(`VM ${p.rest[0]} does not exist`);
        console.log(JSON.stringify(vc.describeVm(vm), null, 2));
      });
    },
  },
  'sim-faults': {
    help: 'list the simulator failure-injection rules [--json] [--data-dir DIR]',
    async run(args) {
      const p = parse(args, ['data-dir']);
      checkFlags(p, ['json', 'data-dir']);
      withStore(dataDir(p), (s) => {
        const rules = s.loadFaults();
        if (p.flags.json) return console.log(JSON.stringify(rules, null, 2));
        if (!rules.length) return console.log('no fault rules');
        for (const r of rules) {
          console.log(`${r.id}  ${r.action} ${r.method}${r.vmName ? ` vm=${r.vmName}` : ''}${r.fault ? ` fault=${r.fault}` : ''}${r.latencyMs !== undefined ? ` latency=${r.latencyMs}ms` : ''} remaining=${r.remaining ?? 'unlimited'}`);
        }
      });
    },
  },
  'sim-fault-add': {
    help: 'add a fault rule: --method CreateVM_Task [--action fail|hang|latency] [--fault NAME] [--message TEXT] [--vm NAME] [--count N|unlimited] [--latency-ms N] [--data-dir DIR]',
    async run(args) {
      const valued = ['method', 'action', 'fault', 'message', 'vm', 'count', 'latency-ms', 'data-dir'];
      const p = parse(args, valued);
      checkFlags(p, valued);
      if (p.rest.length) throw new Error(`unexpected argument ${p.rest[0]}`);
      const f = p.flags as Record<string, string>;
      const num = (k: string) => {
        if (!/^\d+$/.test(f[k])) throw new Error(`--${k} must be a non-negative integer`);
        return Number(f[k]);
      };
      const input: Record<string, unknown> = {};
      if (f.method) input.method = f.method;
      if (f.action) input.action = f.action;
      if (f.fault) input.fault = f.fault;
      if (f.message) input.message = f.message;
      if (f.vm) input.vmName = f.vm;
      if (f['latency-ms'] !== undefined) input.latencyMs = num('latency-ms');
      if (f.count !== undefined) input.count = f.count === 'unlimited' ? null : num('count');
      const rule = validateFault(input);
      withStore(dataDir(p), (s) => s.putFault(rule));
      console.log(rule.id);
    },
  },
  'sim-fault-rm': {
    help: 'remove a fault rule (releasing tasks it hangs): sim-fault-rm <id> | --all [--data-dir DIR]',
    async run(args) {
      const p = parse(args, ['data-dir']);
      checkFlags(p, ['all', 'data-dir']);
      withStore(dataDir(p), (s) => {
        if (p.flags.all) return s.clearFaults();
        if (p.rest.length !== 1) throw new Error('usage: sim-fault-rm <id> | --all');
        if (!s.deleteFault(p.rest[0])) throw new Error(`fault rule ${p.rest[0]} does not exist`);
      });
    },
  },
};
