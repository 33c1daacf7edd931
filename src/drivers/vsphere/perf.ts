// The telemetry hook: per-VM CPU, memory, disk and network figures from a vCenter's
// PerformanceManager, as Ceilometer's vSphere inspector reads them. The counter catalogue is the
// PerformanceManager's perfCounter property, read once (vcsim's QueryPerfCounter crashes); the
// figures are the latest real-time sample of every VM asked for, in one QueryPerf.
import type { VSphereSession } from './session.ts';
import { VimFault, isFault } from './vim/client.ts';
import { get, getMany, listObjects } from './vim/props.ts';
import type { MoRef, PerfCounterInfo, PerfEntityMetric, PerfMetricIntSeries, PerfSampleInfo } from './vim/types.ts';
import { asArray } from './vim/xml.ts';

/** The latest sample of one VM; a figure is absent when the vCenter has no value for it. */
export interface VmStats {
  /** The VM's instanceUuid (Vistack's server uuid). */
  uuid: string;
  /** cpu.usage.average, in percent of the VM's vCPUs. */
  cpuUsagePct?: number;
  /** cpu.usagemhz.average */
  cpuMhz?: number;
  /** mem.consumed.average (host memory backing the guest), MiB */
  memoryConsumedMb?: number;
  /** mem.active.average (recently touched guest memory), MiB */
  memoryActiveMb?: number;
  /** disk.read.average / disk.write.average, KB/s over all disks */
  diskReadKBps?: number;
  diskWriteKBps?: number;
  /** net.received.average / net.transmitted.average, KB/s over all NICs */
  netRxKBps?: number;
  netTxKBps?: number;
  /** When the sample was taken (ISO 8601, the vCenter's clock); the query time when there is none. */
  timestamp: string;
}

type Figure = Exclude<keyof VmStats, 'uuid' | 'timestamp'>;

/** The counters read, by their "group.name.rollup" names, and how a raw value becomes a figure. */
const COUNTERS: Record<Figure, { counter: string; scale: (v: number) => number }> = {
  cpuUsagePct: { counter: 'cpu.usage.average', scale: (v) => v / 100 }, // hundredths of a percent
  cpuMhz: { counter: 'cpu.usagemhz.average', scale: (v) => v },
  memoryConsumedMb: { counter: 'mem.consumed.average', scale: (v) => v / 1024 }, // KB
  memoryActiveMb: { counter: 'mem.active.average', scale: (v) => v / 1024 },
  diskReadKBps: { counter: 'disk.read.average', scale: (v) => v },
  diskWriteKBps: { counter: 'disk.write.average', scale: (v) => v },
  netRxKBps: { counter: 'net.received.average', scale: (v) => v },
  netTxKBps: { counter: 'net.transmitted.average', scale: (v) => v },
};

/** VMs per QueryPerf: a bound on the size of one answer, far above a typical poll. */
const BATCH = 500;
/** The historical interval vCenter always keeps (5 min), for entities without real-time stats. */
const HISTORICAL_INTERVAL = 300;

interface PerfProviderSummary { currentSupported?: boolean | string; refreshRate?: number }

export class VSpherePerf {
  private readonly session: VSphereSession;
  private catalogue: Promise<Map<string, number>> | null = null;
  private interval: Promise<number> | null = null;

  constructor(session: VSphereSession) { this.session = session; }

  private get client() { return this.session.client; }

  private get perfManager(): MoRef {
    const pm = this.client.content.perfManager;
    if (!pm) throw new VimFault('NotSupported', `vCenter ${this.session.config.name} has no PerformanceManager`);
    return pm;
  }

  /** Counter ids by "group.name.rollup" (e.g. "cpu.usage.average"), read once. */
  counters(): Promise<Map<string, number>> {
    if (!this.catalogue) {
      this.catalogue = (async () => {
        await this.session.open();
        const p = await get<{ perfCounter: PerfCounterInfo[] }>(this.client, this.perfManager, ['perfCounter']);
        const map = new Map<string, number>();
        for (const c of asArray(p?.perfCounter)) {
          const name = `${c.groupInfo?.key}.${c.nameInfo?.key}.${c.rollupType}`;
          if (!map.has(name)) map.set(name, Number(c.key));
        }
        return map;
      })();
      this.catalogue.catch(() => { this.catalogue = null; });
    }
    return this.catalogue;
  }

  /** The counter id of "group.name.rollup", or undefined when this vCenter has no such counter. */
  async counterId(name: string): Promise<number | undefined> { return (await this.counters()).get(name); }

  /** The real-time sampling interval of VMs (QueryPerfProviderSummary.refreshRate: 20 s on vCenter and vcsim). */
  private refreshRate(vm: MoRef): Promise<number> {
    if (!this.interval) {
      this.interval = (async () => {
        const s = await this.client.call<PerfProviderSummary>('QueryPerfProviderSummary', this.perfManager, { entity: vm });
        const current = s?.currentSupported === true || s?.currentSupported === 'true';
        const rate = Number(s?.refreshRate);
        return current && rate > 0 ? rate : HISTORICAL_INTERVAL;
      })();
      this.interval.catch(() => { this.interval = null; });
    }
    return this.interval;
  }

  /**
   * The latest sample of each VM, given by instance uuid or by moref. VMs that do not exist
   * are left out; the order follows the input.
   */
  async vmStats(vms: Array<string | MoRef>): Promise<VmStats[]> {
    if (!Array.isArray(vms)) throw new VimFault('InvalidArgument', 'vmStats: expected a list of VM uuids or morefs');
    if (!vms.length) return [];
    await this.session.open();
    const targets = await this.resolve(vms);
    if (!targets.length) return [];
    const ids = await this.counters();
    const metricId = Object.values(COUNTERS).map((c) => ids.get(c.counter)).filter((id): id is number => id !== undefined)
      .map((counterId) => ({ counterId, instance: '' }));
    const intervalId = await this.refreshRate(targets[0]!.ref);
    const byFigure = new Map<number, Figure>();
    for (const [figure, c] of Object.entries(COUNTERS) as [Figure, typeof COUNTERS[Figure]][]) {
      const id = ids.get(c.counter);
      if (id !== undefined) byFigure.set(id, figure);
    }

    const metrics = new Map<string, PerfEntityMetric>();
    for (let i = 0; i < targets.length; i += BATCH) {
      for (const m of await this.query(targets.slice(i, i + BATCH).map((t) => t.ref), metricId, intervalId)) metrics.set(m.entity.value, m);
    }
    const now = new Date().toISOString();
    return targets.map(({ ref, uuid }) => {
      const m = metrics.get(ref.value);
      const samples = asArray<PerfSampleInfo>(m?.sampleInfo);
      // The newest sample: vCenter lists samples oldest first, vcsim newest first.
      let latest = samples.length - 1;
      samples.forEach((x, i) => { if (Date.parse(String(x.timestamp)) > Date.parse(String(samples[latest]!.timestamp))) latest = i; });
      const out: VmStats = { uuid, timestamp: samples.length ? String(samples[latest]!.timestamp) : now };
      for (const series of asArray<PerfMetricIntSeries>(m?.value)) {
        const figure = byFigure.get(Number(series.id?.counterId));
        if (!figure || (series.id?.instance ?? '') !== '') continue;
        const values = asArray(series.value).map(Number);
        const raw = values.length === samples.length ? values[latest] : values[values.length - 1];
        // -1 is vCenter's "no value in this interval".
        if (raw === undefined || !Number.isFinite(raw) || raw < 0) continue;
        out[figure] = COUNTERS[figure].scale(raw);
      }
      return out;
    });
  }

  /** VM morefs with their instance uuids, in input order, without the ones that do not exist. */
  private async resolve(vms: Array<string | MoRef>): Promise<Array<{ ref: MoRef; uuid: string }>> {
    type P = { 'config.instanceUuid': string };
    const uuids = vms.filter((v): v is string => typeof v === 'string');
    const refs = vms.filter((v): v is MoRef => typeof v === 'object' && v !== null && typeof v.value === 'string');
    if (uuids.length + refs.length !== vms.length) throw new VimFault('InvalidArgument', 'vmStats: every entry must be a VM uuid or a VirtualMachine moref');
    const byUuid = new Map<string, MoRef>();
    if (uuids.length) {
      // One read of every VM's instance uuid beats one FindByUuid per VM for a poll of many.
      const all = await listObjects<P>(this.client, this.session.inventory.datacenter.ref, 'VirtualMachine', ['config.instanceUuid']);
      for (const r of all) if (r.props['config.instanceUuid']) byUuid.set(String(r.props['config.instanceUuid']).toLowerCase(), r.ref);
    }
    const byRef = new Map<string, string>();
    if (refs.length) {
      for (const r of await getMany<P>(this.client, refs.map((x) => ({ type: x.type || 'VirtualMachine', value: x.value })), ['config.instanceUuid'])) {
        byRef.set(r.ref.value, String(r.props['config.instanceUuid'] ?? ''));
      }
    }
    const out: Array<{ ref: MoRef; uuid: string }> = [];
    const seen = new Set<string>();
    for (const v of vms) {
      const item = typeof v === 'string'
        ? (() => { const ref = byUuid.get(v.toLowerCase()); return ref ? { ref, uuid: v } : null; })()
        : byRef.has(v.value) ? { ref: { type: v.type || 'VirtualMachine', value: v.value }, uuid: byRef.get(v.value)! } : null;
      if (item && !seen.has(item.ref.value)) { seen.add(item.ref.value); out.push(item); }
    }
    return out;
  }

  private async query(refs: MoRef[], metricId: Array<{ counterId: number; instance: string }>, intervalId: number): Promise<PerfEntityMetric[]> {
    const spec = (entity: MoRef) => ({ entity, maxSample: 1, metricId, intervalId, format: 'normal' });
    try {
      return asArray(await this.client.call<PerfEntityMetric[] | PerfEntityMetric | undefined>('QueryPerf', this.perfManager, { querySpec: refs.map(spec) }));
    } catch (e) {
      // A VM deleted since it was looked up fails the whole query: ask for each VM alone then.
      if (!isFault(e, 'ManagedObjectNotFound', 'InvalidArgument') || refs.length === 1) {
        if (isFault(e, 'ManagedObjectNotFound')) return [];
        throw e;
      }
      const out: PerfEntityMetric[] = [];
      for (const r of refs) out.push(...await this.query([r], metricId, intervalId));
      return out;
    }
  }
}
