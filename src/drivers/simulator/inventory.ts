// The simulated vCenter's persistent inventory: its own SQLite file (WAL), independent of
// Vistack's database, because the simulator stands in for an external vCenter whose state
// survives a restart (or a kill -9) of the Vistack process. Also read directly by the CLI.
//
// Tables: meta (vCenter uuid, moref counter), objects (datacenters, clusters, hosts, datastores,
// switches, port groups as JSON), vms (one row per VM, its config as JSON), files (datastore files
// that outlive VMs: image cache entries and volume VMDKs), faults (failure-injection rules).
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import YAML from 'yaml';
import type {
  Cluster, Datacenter, Datastore, DistributedSwitch, FaultRule, HostSystem, Portgroup, VirtualMachine,
} from './model.ts';

export interface DatastoreFile {
  path: string; // "[ds] vistack_image_cache/<id>/<id>.vmdk"
  datastore: string;
  kind: 'image-cache' | 'volume';
  capacityKb: number;
  committed: number;
  props: Record<string, unknown>;
}

export interface InventoryObjects {
  datacenters: Datacenter[];
  clusters: Cluster[];
  hosts: HostSystem[];
  datastores: Datastore[];
  switches: DistributedSwitch[];
  portgroups: Portgroup[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (moref TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vms (moref TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, power_state TEXT NOT NULL, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, datastore TEXT NOT NULL, kind TEXT NOT NULL, capacity_kb INTEGER NOT NULL, committed INTEGER NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faults (id TEXT PRIMARY KEY, rule TEXT NOT NULL);
`;

export function inventoryDir(dataDir: string) { return join(dataDir, 'vsphere-sim'); }
export function inventoryFile(dataDir: string) { return join(inventoryDir(dataDir), 'inventory.db'); }

/** Thin typed wrapper over the SQLite file; synchronous, so a "transaction" never interleaves. */
export class InventoryStore {
  readonly db: DatabaseSync;
  private stmts = new Map<string, StatementSync>();

  constructor(file: string, opts: { readOnly?: boolean } = {}) {
    if (!opts.readOnly) mkdirSync(join(file, '..'), { recursive: true });
    this.db = new DatabaseSync(file, { readOnly: !!opts.readOnly });
    this.db.exec('PRAGMA busy_timeout=5000;');
    if (!opts.readOnly) {
      this.db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;');
      this.db.exec(SCHEMA);
    }
  }

  stmt(sql: string): StatementSync {
    let s = this.stmts.get(sql);
    if (!s) { s = this.db.prepare(sql); this.stmts.set(sql, s); }
    return s;
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE ... COMMIT). fn must be synchronous. */
  tx<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const r = fn();
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      try { this.db.exec('ROLLBACK'); } catch { /* nothing to roll back */ }
      throw e;
    }
  }

  /** Changes when another connection (the CLI) commits: cheap check before re-reading faults. */
  dataVersion(): number {
    return Number((this.stmt('PRAGMA data_version').get() as any).data_version);
  }

  getMeta(key: string): string | undefined {
    return (this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as any)?.value;
  }
  setMeta(key: string, value: string) {
    this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  putObject(type: string, obj: { moref: string; name: string }) {
    this.stmt('INSERT INTO objects (moref, type, name, props) VALUES (?, ?, ?, ?) ON CONFLICT (moref) DO UPDATE SET name = excluded.name, props = excluded.props')
      .run(obj.moref, type, obj.name, JSON.stringify(obj));
  }

  loadObjects(): InventoryObjects {
    const out: InventoryObjects = { datacenters: [], clusters: [], hosts: [], datastores: [], switches: [], portgroups: [] };
    const key: Record<string, keyof InventoryObjects> = {
      Datacenter: 'datacenters', ClusterComputeResource: 'clusters', HostSystem: 'hosts', Datastore: 'datastores',
      VmwareDistributedVirtualSwitch: 'switches', DistributedVirtualPortgroup: 'portgroups',
    };
    for (const r of this.stmt('SELECT type, props FROM objects ORDER BY rowid').all() as any[]) {
      const k = key[r.type];
      if (k) (out[k] as unknown[]).push(JSON.parse(r.props));
    }
    return out;
  }

  loadVms(): VirtualMachine[] {
    return (this.stmt('SELECT config FROM vms ORDER BY rowid').all() as any[]).map((r) => JSON.parse(r.config));
  }
  getVm(name: string): VirtualMachine | undefined {
    const r = this.stmt('SELECT config FROM vms WHERE name = ?').get(name) as any;
    return r ? JSON.parse(r.config) : undefined;
  }
  putVm(vm: VirtualMachine) {
    this.stmt('INSERT INTO vms (moref, name, power_state, config) VALUES (?, ?, ?, ?) ON CONFLICT (moref) DO UPDATE SET power_state = excluded.power_state, config = excluded.config')
      .run(vm.moref, vm.name, vm.powerState, JSON.stringify(vm));
  }
  deleteVm(moref: string) { this.stmt('DELETE FROM vms WHERE moref = ?').run(moref); }

  loadFiles(): DatastoreFile[] {
    return (this.stmt('SELECT * FROM files ORDER BY rowid').all() as any[]).map((r) => ({
      path: r.path, datastore: r.datastore, kind: r.kind, capacityKb: Number(r.capacity_kb), committed: Number(r.committed), props: JSON.parse(r.props),
    }));
  }
  putFile(f: DatastoreFile) {
    this.stmt('INSERT INTO files (path, datastore, kind, capacity_kb, committed, props) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET capacity_kb = excluded.capacity_kb, committed = excluded.committed, props = excluded.props')
      .run(f.path, f.datastore, f.kind, f.capacityKb, f.committed, JSON.stringify(f.props));
  }
  deleteFile(path: string) { this.stmt('DELETE FROM files WHERE path = ?').run(path); }

  loadFaults(): FaultRule[] {
    return (this.stmt('SELECT rule FROM faults ORDER BY rowid').all() as any[]).map((r) => JSON.parse(r.rule));
  }
  putFault(f: FaultRule) {
    this.stmt('INSERT INTO faults (id, rule) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET rule = excluded.rule').run(f.id, JSON.stringify(f));
  }
  deleteFault(id: string): boolean { return Number(this.stmt('DELETE FROM faults WHERE id = ?').run(id).changes) > 0; }
  clearFaults() { this.db.exec('DELETE FROM faults'); }

  close() { this.db.close(); }
}

// ---- default inventory ------------------------------------------------------------------

/** Layout of the inventory created at first start; <dataDir>/vsphere-sim/inventory.yaml|json overrides it. */
export interface InventoryLayout {
  datacenter: string;
  clusters: Array<{
    name: string;
    computeHost?: string;
    hosts: Array<{ name: string; sockets?: number; cores: number; mhz?: number; memoryMb: number; cpuModel?: string }>;
    datastores: Array<{ name: string; capacityGb: number; type?: 'VMFS' | 'NFS' | 'vsan' }>;
  }>;
  switch: { name: string; uplinkPortgroup: string };
}

/**
 * Two clusters of four 48-core (2 x 24), 256 GiB hosts and two 2 TiB datastores each: 1,000
 * m1.tiny servers (1 vCPU, 512 MiB, 1 GiB) fit with Nova's default allocation ratios (4.0 for
 * CPU: 384 cores give 1,536 vCPUs).
 */
export function defaultLayout(): InventoryLayout {
  const cluster = (n: number) => ({
    name: `cluster${n}`,
    computeHost: `compute0${n}`,
    hosts: [1, 2, 3, 4].map((h) => ({
      name: `esxi-${n}${h}.vistack.local`, sockets: 2, cores: 48, mhz: 2600, memoryMb: 256 * 1024,
      cpuModel: 'Intel(R) Xeon(R) Gold 6342 CPU @ 2.80GHz',
    })),
    datastores: [1, 2].map((d) => ({ name: `cluster${n}-ds${d}`, capacityGb: 2048, type: 'VMFS' as const })),
  });
  return { datacenter: 'Datacenter', clusters: [cluster(1), cluster(2)], switch: { name: 'vistack-dvs', uplinkPortgroup: 'vistack-dvs-uplinks' } };
}

export function readLayout(dir: string): InventoryLayout {
  for (const f of ['inventory.yaml', 'inventory.yml', 'inventory.json']) {
    const p = join(dir, f);
    if (!existsSync(p)) continue;
    const doc = YAML.parse(readFileSync(p, 'utf8')); // YAML is a superset of JSON
    return validateLayout(doc, p);
  }
  return defaultLayout();
}

function validateLayout(doc: any, file: string): InventoryLayout {
  const bad = (m: string): never => { throw new Error(`${file}: ${m}`); };
  if (!doc || typeof doc !== 'object') bad('not an object');
  const def = defaultLayout();
  const clusters = doc.clusters ?? def.clusters;
  if (!Array.isArray(clusters) || !clusters.length) bad('clusters must be a non-empty list');
  const names = new Set<string>();
  clusters.forEach((c: any, i: number) => {
    if (!c || typeof c.name !== 'string' || !c.name) bad(`clusters[${i}].name is required`);
    if (names.has(c.name)) bad(`duplicate cluster ${c.name}`);
    names.add(c.name);
    if (!Array.isArray(c.hosts) || !c.hosts.length) bad(`clusters[${i}].hosts must be a non-empty list`);
    for (const h of c.hosts) {
      if (typeof h?.name !== 'string' || !(h.cores > 0) || !(h.memoryMb > 0)) bad(`clusters[${i}].hosts: each needs name, cores, memoryMb`);
    }
    if (!Array.isArray(c.datastores) || !c.datastores.length) bad(`clusters[${i}].datastores must be a non-empty list`);
    for (const d of c.datastores) {
      if (typeof d?.name !== 'string' || !(d.capacityGb > 0)) bad(`clusters[${i}].datastores: each needs name, capacityGb`);
    }
  });
  return {
    datacenter: typeof doc.datacenter === 'string' ? doc.datacenter : def.datacenter,
    clusters,
    switch: { ...def.switch, ...(doc.switch ?? {}) },
  };
}

/** Creates the inventory at first start (empty objects table); later starts keep what exists. */
export function ensureInventory(store: InventoryStore, dir: string) {
  if (store.getMeta('instance_uuid')) return;
  const layout = readLayout(dir);
  store.tx(() => {
    // vCenter numbers every managed object from one counter; the first ones go to root folders.
    let next = 2;
    const id = (prefix: string) => `${prefix}${next++}`;
    store.setMeta('instance_uuid', randomUUID());
    store.setMeta('version', '8.0.2');
    store.setMeta('build', '22617221');
    const dc: Datacenter = { moref: id('datacenter-'), name: layout.datacenter };
    store.putObject('Datacenter', dc);
    next = Math.max(next, 8);
    let hostIp = 11;
    layout.clusters.forEach((lc, ci) => {
      const cl: Cluster = { moref: id('domain-c'), name: lc.name, datacenter: dc.moref, computeHost: lc.computeHost ?? `compute${String(ci + 1).padStart(2, '0')}` };
      store.putObject('ClusterComputeResource', cl);
      for (const lh of lc.hosts) {
        const sockets = lh.sockets ?? 2;
        const h: HostSystem = {
          moref: id('host-'), name: lh.name, cluster: cl.moref, cpuModel: lh.cpuModel ?? 'Intel(R) Xeon(R) Gold 6240R CPU @ 2.40GHz',
          sockets, cores: lh.cores, threads: lh.cores * 2, mhz: lh.mhz ?? 2600, memoryMb: lh.memoryMb,
          ip: `192.0.2.${hostIp++}`, version: '8.0.2', build: '22380479',
        };
        store.putObject('HostSystem', h);
      }
      for (const ld of lc.datastores) {
        const ds: Datastore = { moref: id('datastore-'), name: ld.name, type: ld.type ?? 'VMFS', clusters: [cl.moref], capacityBytes: Math.round(ld.capacityGb * 1024 ** 3) };
        store.putObject('Datastore', ds);
      }
    });
    const dvs: DistributedSwitch = { moref: id('dvs-'), name: layout.switch.name, datacenter: dc.moref, uuid: dvsUuid() };
    store.putObject('VmwareDistributedVirtualSwitch', dvs);
    const pgMoref = id('dvportgroup-');
    const pg: Portgroup = { moref: pgMoref, key: pgMoref, name: layout.switch.uplinkPortgroup, dvs: dvs.moref, vlanId: 0, uplink: true };
    store.putObject('DistributedVirtualPortgroup', pg);
    store.setMeta('next_id', String(Math.max(next, 100)));
  });
}

/** A DVS uuid as vCenter shows it: 16 hex bytes in two space-separated halves joined by '-'. */
function dvsUuid() {
  const hex = randomUUID().replace(/-/g, '');
  const b = hex.match(/../g)!;
  return `${b.slice(0, 8).join(' ')}-${b.slice(8).join(' ')}`;
}
