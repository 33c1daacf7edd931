// The datastore image cache, as Nova's vmwareapi imagecache: a Glance image is copied once per
// datastore to "[ds] vistack_image_cache/<image id>/<image id>.vmdk", and instance root disks are
// copied from there. The copy is built under a temporary name and moved into place last, so an
// interrupted upload never looks like a cached image; concurrent spawns of one image on one
// datastore share a single upload. How the bytes become a VMDK depends on the image, as in Nova:
// - flat data (vmware_disktype preallocated, the default, and raw/other formats): a descriptor is
//   made with CreateVirtualDisk_Task, its extent replaced by the image bytes over HTTP;
// - streamOptimized VMDKs: imported through an HttpNfcLease (ImportVApp of a shadow VM), whose
//   disk is then moved into the cache and the shadow VM unregistered;
// - sparse (monolithicSparse) VMDKs: uploaded as they are and converted by CopyVirtualDisk_Task.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { deflateSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { VirtDriverError, type ImageSpec } from '../../core/virt.ts';
import type { ClusterInfo, DatastoreInfo } from './inventory.ts';
import type { VSphereSession } from './session.ts';
import { Datastores, dsPath, type DiskAdapter } from './ds_util.ts';
import { VimConnectionError, VimFault, isFault } from './vim/client.ts';
import { get, listObjects } from './vim/props.ts';
import type { HostDatastoreBrowserSearchResults, MoRef, VirtualDevice } from './vim/types.ts';
import { asArray } from './vim/xml.ts';
import { adapterOf, kb, isDisk, diskCapacityKb } from './vm_util.ts';

export interface CachedImage {
  /** "[ds] vistack_image_cache/<id>/<id>.vmdk" */
  path: string;
  datastore: string;
  imageId: string;
  /** The virtual disk's capacity (what a root disk copied from it starts with). */
  capacityKb: number;
}

export type ImageDiskType = 'flat' | 'streamOptimized' | 'sparse';

const IMPORT_PREFIX = 'vistack-image-';
const SPARSE_MAGIC = 0x564d444b; // "KDMV"

const inflight = new WeakMap<VSphereSession, Map<string, Promise<CachedImage>>>();
/** Capacities learnt while caching (vcsim does not report a cached disk's capacity). */
const capacities = new WeakMap<VSphereSession, Map<string, number>>();
/** Images known to be in a datastore's cache: later spawns skip the datastore search. */
const present = new WeakMap<VSphereSession, Map<string, CachedImage>>();

/** Forgets a cached image (its file was found missing): the next ensureImageCached looks and uploads again. */
export function forgetCachedImage(session: VSphereSession, datastore: string, imageId: string): void {
  mapOf(present, session).delete(`${datastore}\u0000${imageId}`);
}

function mapOf<V>(m: WeakMap<VSphereSession, Map<string, V>>, s: VSphereSession): Map<string, V> {
  let v = m.get(s);
  if (!v) { v = new Map(); m.set(s, v); }
  return v;
}

export function imageCacheFolder(session: VSphereSession, imageId: string): string {
  return `${session.config.imageCacheFolder}/${imageId}`;
}

export function cachedImagePath(session: VSphereSession, datastore: string, imageId: string): string {
  return dsPath(datastore, `${imageCacheFolder(session, imageId)}/${imageId}.vmdk`);
}

/** How an image's bytes become a disk: its vmware_disktype, else what its header says. */
export function imageDiskType(image: ImageSpec, head?: Buffer): ImageDiskType {
  const t = image.properties?.vmware_disktype;
  if (t === 'streamOptimized') return 'streamOptimized';
  if (t === 'sparse') return 'sparse';
  if (t) return 'flat';
  if (image.diskFormat === 'vmdk' && head && head.length >= 8 && head.readUInt32LE(0) === SPARSE_MAGIC) {
    // Compressed grains (flag bit 16) are the stream-optimized variant.
    return (head.readUInt32LE(8) & 0x10000) !== 0 ? 'streamOptimized' : 'sparse';
  }
  return 'flat';
}

/** The virtual size of a sparse/stream-optimized VMDK from its header (capacity in sectors at byte 12). */
export function sparseCapacityKb(head: Buffer): number | null {
  if (head.length < 20 || head.readUInt32LE(0) !== SPARSE_MAGIC) return null;
  const sectors = Number(head.readBigUInt64LE(12));
  return sectors > 0 ? Math.ceil((sectors * 512) / 1024) : null;
}

/**
 * The cached copy of `image` on datastore `ds`, made when missing. Safe to call concurrently
 * (one upload per datastore and image) and again after a crash at any point.
 */
export function ensureImageCached(session: VSphereSession, ds: DatastoreInfo, image: ImageSpec, cluster?: ClusterInfo): Promise<CachedImage> {
  if (!image.id || /[/\\[\]]/.test(image.id)) return Promise.reject(new VirtDriverError('InvalidArgument', `Invalid image id ${image.id}`));
  const flights = mapOf(inflight, session);
  const key = `${ds.name}\u0000${image.id}`;
  const known = mapOf(present, session).get(key);
  if (known) return Promise.resolve(known);
  let p = flights.get(key);
  if (!p) {
    p = cacheImage(session, ds, image, cluster).then((c) => { mapOf(present, session).set(key, c); return c; }).finally(() => flights.delete(key));
    flights.set(key, p);
  }
  return p;
}

/** The cached disk if it is complete (its descriptor in place), with its capacity when known. */
export async function lookupCachedImage(session: VSphereSession, ds: DatastoreInfo, imageId: string, sizeHint = 0): Promise<CachedImage | null> {
  const c = session.client;
  const browser = (await get<{ browser: MoRef }>(c, ds.ref, ['browser']))?.browser;
  if (!browser) return null;
  let res: HostDatastoreBrowserSearchResults | undefined;
  try {
    res = await c.runTask<HostDatastoreBrowserSearchResults>('SearchDatastore_Task', browser, {
      datastorePath: dsPath(ds.name, imageCacheFolder(session, imageId)),
      searchSpec: {
        query: [{ _type: 'VmDiskFileQuery', details: { diskType: true, capacityKb: true, hardwareVersion: false } }],
        details: { fileType: true, fileSize: true, modification: false, fileOwner: false },
        matchPattern: [`${imageId}.vmdk`],
      },
    });
  } catch (e) {
    if (isFault(e, 'FileNotFound')) return null;
    throw e;
  }
  const file = asArray(res?.file).find((f) => f.path === `${imageId}.vmdk`);
  if (!file) return null;
  const known = mapOf(capacities, session).get(`${ds.name}\u0000${imageId}`);
  const capacityKb = Number((file as { capacityKb?: number }).capacityKb) || known || Math.max(1, kb(sizeHint));
  return { path: cachedImagePath(session, ds.name, imageId), datastore: ds.name, imageId, capacityKb };
}

async function cacheImage(session: VSphereSession, ds: DatastoreInfo, image: ImageSpec, cluster?: ClusterInfo): Promise<CachedImage> {
  const found = await lookupCachedImage(session, ds, image.id, image.size);
  if (found) return found;
  const files = new Datastores(session.inventory);
  await removeLeftovers(session, files, ds, image.id);

  const source = await image.open();
  const { head, stream } = await peek(source, 64);
  const type = imageDiskType(image, head);
  let capacityKb: number;
  try {
    if (type === 'streamOptimized') {
      capacityKb = await importStreamOptimized(session, files, ds, image, stream, sparseCapacityKb(head), cluster);
    } else if (type === 'sparse') {
      capacityKb = await cacheSparse(session, files, ds, image, stream, sparseCapacityKb(head));
    } else {
      capacityKb = await cacheFlat(session, files, ds, image, stream);
    }
  } finally {
    source.destroy();
  }
  mapOf(capacities, session).set(`${ds.name}\u0000${image.id}`, capacityKb);
  await session.inventory.refreshDatastore(ds).catch(() => undefined);
  return { path: cachedImagePath(session, ds.name, image.id), datastore: ds.name, imageId: image.id, capacityKb };
}

/** Temporary folders and shadow VMs of earlier attempts that did not finish (a crash, a failed upload). */
async function removeLeftovers(session: VSphereSession, files: Datastores, ds: DatastoreInfo, imageId: string) {
  const folder = imageCacheFolder(session, imageId);
  for (const f of await files.list(ds.name, folder, 'tmp-*')) await files.deleteFile(dsPath(ds.name, `${folder}/${f.path}`));
  const prefix = importPrefix(ds, imageId);
  const c = session.client;
  const vms = await listObjects<{ name: string }>(c, session.inventory.folder, 'VirtualMachine', ['name']);
  for (const vm of vms.filter((v) => String(v.props.name ?? '').startsWith(prefix))) {
    try { await c.runTask('Destroy_Task', vm.ref); } catch (e) { if (!isFault(e, 'ManagedObjectNotFound')) throw e; }
  }
  for (const f of await files.list(ds.name, '', `${prefix}*`)) await files.deleteFile(dsPath(ds.name, f.path));
}

/** Moves a finished disk into the cache; one already there (another process finished first) is kept. */
async function moveIntoCache(session: VSphereSession, files: Datastores, ds: DatastoreInfo, imageId: string, tmpDisk: string) {
  await files.mkdir(ds.name, imageCacheFolder(session, imageId));
  try {
    await files.moveDisk(tmpDisk, cachedImagePath(session, ds.name, imageId));
  } catch (e) {
    if (!isFault(e, 'FileAlreadyExists')) throw e;
  }
}

/** Shadow VMs of an import are named per image and datastore, so leftovers of one never touch another's import. */
function importPrefix(ds: DatastoreInfo, imageId: string) {
  return `${IMPORT_PREFIX}${imageId}-${createHash('sha1').update(ds.name).digest('hex').slice(0, 8)}-`;
}

function tmpFolder(session: VSphereSession, imageId: string) {
  return `${imageCacheFolder(session, imageId)}/tmp-${randomBytes(6).toString('hex')}`;
}

/** Nova's flat path: a preallocated descriptor, its -flat extent replaced by the image's bytes. */
async function cacheFlat(session: VSphereSession, files: Datastores, ds: DatastoreInfo, image: ImageSpec, data: Readable): Promise<number> {
  if (!(image.size > 0)) throw new VirtDriverError('ImageUnacceptable', `Image ${image.id} has no size; cannot size its disk`);
  const capacityKb = kb(image.size);
  const tmp = tmpFolder(session, image.id);
  const descriptor = dsPath(ds.name, `${tmp}/${image.id}.vmdk`);
  const extent = dsPath(ds.name, `${tmp}/${image.id}-flat.vmdk`);
  try {
    await files.mkdir(ds.name, tmp);
    await files.createDisk(descriptor, capacityKb, 'preallocated', adapterOf(image) as DiskAdapter);
    await files.deleteFile(extent);
    // The extent is exactly the disk's capacity: the image padded with zeros to a whole KiB.
    await files.upload(extent, Readable.from(padded(data, image.size, capacityKb * 1024, image.id)), capacityKb * 1024);
    await moveIntoCache(session, files, ds, image.id, descriptor);
  } finally {
    await files.deleteFile(dsPath(ds.name, tmp)).catch(() => undefined);
  }
  return capacityKb;
}

/** A sparse VMDK is uploaded as it is, then converted into a datastore disk by CopyVirtualDisk_Task. */
async function cacheSparse(session: VSphereSession, files: Datastores, ds: DatastoreInfo, image: ImageSpec, data: Readable, headerKb: number | null): Promise<number> {
  if (!(image.size > 0)) throw new VirtDriverError('ImageUnacceptable', `Image ${image.id} has no size`);
  const tmp = tmpFolder(session, image.id);
  const sparse = dsPath(ds.name, `${tmp}/tmp-sparse.vmdk`);
  const converted = dsPath(ds.name, `${tmp}/${image.id}.vmdk`);
  try {
    await files.mkdir(ds.name, tmp);
    await files.upload(sparse, Readable.from(padded(data, image.size, image.size, image.id)), image.size);
    await files.copyDisk(sparse, converted);
    await moveIntoCache(session, files, ds, image.id, converted);
  } finally {
    await files.deleteFile(dsPath(ds.name, tmp)).catch(() => undefined);
  }
  return headerKb ?? kb(image.size);
}

/**
 * A stream-optimized VMDK through an NFC lease, as Nova's fetch_image_stream_optimized: ImportVApp
 * of a shadow VM with one disk, the image PUT to the lease's disk URL, the lease completed, the
 * VM unregistered (its disk stays) and the disk moved into the cache.
 */
async function importStreamOptimized(
  session: VSphereSession, files: Datastores, ds: DatastoreInfo, image: ImageSpec, data: Readable, headerKb: number | null, cluster?: ClusterInfo,
): Promise<number> {
  const c = session.client;
  const inv = session.inventory;
  const pool = (cluster && cluster.datastores.some((r) => r.value === ds.ref.value) ? cluster : inv.clusters.find((cl) => cl.datastores.some((r) => r.value === ds.ref.value)))?.resourcePool;
  if (!pool) throw new VirtDriverError('NotFound', `No configured cluster mounts datastore ${ds.name}`);
  const name = `${importPrefix(ds, image.id)}${randomBytes(4).toString('hex')}`;
  const spec = {
    _type: 'VirtualMachineImportSpec',
    configSpec: {
      _type: 'VirtualMachineConfigSpec', name, guestId: 'otherGuest', files: { vmPathName: `[${ds.name}]` }, numCPUs: 1, memoryMB: 128,
      deviceChange: [
        { _type: 'VirtualDeviceConfigSpec', operation: 'add', device: { _type: 'VirtualLsiLogicController', key: -100, busNumber: 0, sharedBus: 'noSharing' } },
        {
          _type: 'VirtualDeviceConfigSpec', operation: 'add', fileOperation: 'create',
          device: {
            _type: 'VirtualDisk', key: -101,
            backing: { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: `[${ds.name}]`, diskMode: 'persistent', thinProvisioned: true },
            controllerKey: -100, unitNumber: 0, capacityInKB: Math.max(1, headerKb ?? 1),
          },
        },
      ],
    },
  };
  const lease = await c.call<MoRef>('ImportVApp', pool, { spec, folder: inv.folder });
  let vm: MoRef | undefined;
  let completed = false;
  try {
    const info = await waitLease(session, lease);
    vm = info.entity;
    const disks = asArray(info.deviceUrl).filter((u) => String(asArray(u.disk as unknown)[0]) === 'true');
    if (disks.length !== 1) throw new VimFault('InvalidState', `The import lease of image ${image.id} offers ${disks.length} disk URLs`);
    await nfcPut(session, lease, disks[0]!.url, data, image.size);
    await c.call('HttpNfcLeaseProgress', lease, { percent: 100 });
    await c.call('HttpNfcLeaseComplete', lease);
    completed = true;
    const devices = asArray((await get<{ 'config.hardware.device': VirtualDevice[] }>(c, vm, ['config.hardware.device']))?.['config.hardware.device']);
    const disk = devices.find(isDisk);
    if (!disk) throw new VimFault('InvalidState', `The imported VM of image ${image.id} has no disk`);
    const capacityKb = diskCapacityKb(disk) || headerKb || kb(image.size);
    await c.call('UnregisterVM', vm);
    const imported = String(disk.backing.fileName);
    await moveIntoCache(session, files, ds, image.id, imported);
    const folder = imported.slice(0, imported.lastIndexOf('/'));
    if (folder.includes(name)) await files.deleteFile(folder);
    return capacityKb;
  } catch (e) {
    if (!completed) await c.call('HttpNfcLeaseAbort', lease, {}).catch(() => undefined);
    if (vm) await c.runTask('Destroy_Task', vm).catch(() => undefined);
    throw e;
  }
}

interface LeaseInfo { entity: MoRef; deviceUrl?: Array<{ url: string; disk?: unknown; key?: string }> }

/** An import lease is 'initializing' for a moment on vCenter; vcsim hands it out 'ready'. */
async function waitLease(session: VSphereSession, lease: MoRef): Promise<LeaseInfo> {
  const deadline = Date.now() + session.config.taskTimeoutMs;
  let delay = 100;
  for (;;) {
    const p = await get<{ state: string; info: LeaseInfo; error: { localizedMessage?: string; fault?: { _type?: string } } }>(session.client, lease, ['state', 'info', 'error']);
    if (!p) throw new VimFault('ManagedObjectNotFound', `Import lease ${lease.value} disappeared`);
    if (p.state === 'ready' && p.info) return p.info;
    if (p.state === 'error' || p.state === 'done') {
      throw new VimFault(p.error?.fault?._type ?? 'SystemError', `Import lease ${lease.value}: ${p.error?.localizedMessage ?? p.state}`);
    }
    if (Date.now() > deadline) throw new VimFault('Timeout', `Import lease ${lease.value} not ready in time`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 1000);
  }
}

/** PUT of the image to the lease's disk URL ("*" is the vCenter's host), with keep-alive progress reports. */
async function nfcPut(session: VSphereSession, lease: MoRef, rawUrl: string, data: Readable, size: number) {
  const host = session.client.url.host;
  const url = new URL(rawUrl.replace('://*', `://${host}`));
  const cfg = session.config;
  const agent = new Agent({ connect: { ...(cfg.caFile ? { ca: readFileSync(cfg.caFile) } : {}), rejectUnauthorized: !cfg.insecure } });
  // A lease expires without progress reports (5 minutes on vCenter).
  const timer = setInterval(() => { void session.client.call('HttpNfcLeaseProgress', lease, { percent: 50 }).catch(() => undefined); }, 30_000);
  timer.unref();
  try {
    const body = size > 0 ? Readable.from(padded(data, size, size, 'stream')) : data;
    let res;
    try {
      res = await request(url, {
        method: 'PUT', dispatcher: agent, body,
        headers: { 'content-type': 'application/x-vnd.vmware-streamVmdk', ...(size > 0 ? { 'content-length': String(size) } : {}) },
      });
    } catch (e) {
      throw new VimConnectionError(`upload to the import lease failed: ${(e as Error).message}`, 'ECONNRESET');
    }
    await res.body.dump();
    if (res.statusCode >= 300) throw new VimFault('CannotAccessFile', `upload to the import lease: HTTP ${res.statusCode}`);
  } finally {
    clearInterval(timer);
    await agent.close();
  }
}

/** The stream's bytes, checked against the declared size and padded with zeros to `total`. */
async function* padded(data: Readable, size: number, total: number, what: string): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const chunk of data) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    n += b.length;
    if (n > size) throw new VirtDriverError('ImageUnacceptable', `Image ${what} has more data than its size (${size} bytes)`);
    yield b;
  }
  if (n < size) throw new VirtDriverError('ImageUnacceptable', `Image ${what} ended after ${n} of ${size} bytes`);
  const zero = Buffer.alloc(Math.min(1 << 20, Math.max(0, total - n)));
  while (n < total) {
    const part = Math.min(zero.length, total - n);
    n += part;
    yield zero.subarray(0, part);
  }
}

/** The first bytes of a stream, and a stream that still yields everything. */
async function peek(source: Readable, bytes: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | Uint8Array>;
  const first: Buffer[] = [];
  let got = 0;
  let done = false;
  while (got < bytes) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    first.push(b);
    got += b.length;
  }
  async function* rest() {
    yield* first;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    }
  }
  return { head: Buffer.concat(first), stream: Readable.from(rest()) };
}

// ---- snapshots: a disk's flat extent as a stream-optimized VMDK ------------------------------

const SECTOR = 512;
const GRAIN_SECTORS = 128; // 64 KiB grains
const GTES_PER_GT = 512;

function sparseHeader(capacitySectors: number, descSectors: number, gdOffset: bigint): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.writeUInt32LE(SPARSE_MAGIC, 0);
  h.writeUInt32LE(3, 4); // version 3: compressed grains with markers
  h.writeUInt32LE(0x1 | 0x10000 | 0x20000, 8); // valid newline test, compressed, markers
  h.writeBigUInt64LE(BigInt(capacitySectors), 12);
  h.writeBigUInt64LE(BigInt(GRAIN_SECTORS), 20);
  h.writeBigUInt64LE(1n, 28); // the descriptor follows the header
  h.writeBigUInt64LE(BigInt(descSectors), 36);
  h.writeUInt32LE(GTES_PER_GT, 44);
  h.writeBigUInt64LE(0n, 48);
  h.writeBigUInt64LE(gdOffset, 56);
  h.writeBigUInt64LE(BigInt(GRAIN_SECTORS), 64); // grains start at the first grain boundary
  h.write('\n \r\n', 73, 'latin1');
  h.writeUInt16LE(1, 77); // deflate
  return h;
}

function sparseMarker(val: number, type: number): Buffer {
  const m = Buffer.alloc(SECTOR);
  m.writeBigUInt64LE(BigInt(val), 0);
  m.writeUInt32LE(type, 12);
  return m;
}

/**
 * A stream-optimized VMDK (what Glance keeps for vSphere, vmware_disktype=streamOptimized) of a
 * raw disk: compressed 64 KiB grains behind grain markers, zero grains left out, then the grain
 * tables, the grain directory and the footer. `data` shorter than the capacity reads as zeros
 * after its end (a thin disk's unwritten tail); data past the capacity is not read.
 */
export async function* streamOptimizedVmdk(data: AsyncIterable<Buffer | Uint8Array>, capacityBytes: number, fileName: string, adapterType = 'lsilogic'): AsyncGenerator<Buffer> {
  const capacitySectors = Math.max(GRAIN_SECTORS, Math.ceil(capacityBytes / SECTOR));
  const grains = Math.ceil(capacitySectors / GRAIN_SECTORS);
  const cylinders = Math.max(1, Math.min(65535, Math.floor(capacitySectors / (255 * 63))));
  const descriptor = [
    '# Disk DescriptorFile', 'version=1', `CID=${randomBytes(4).toString('hex')}`, 'parentCID=ffffffff', 'createType="streamOptimized"', '',
    '# Extent description', `RW ${capacitySectors} SPARSE "${fileName}"`, '', '# The Disk Data Base', '#DDB', '',
    `ddb.adapterType = "${adapterType}"`, `ddb.geometry.cylinders = "${cylinders}"`, 'ddb.geometry.heads = "255"',
    'ddb.geometry.sectors = "63"', 'ddb.virtualHWVersion = "4"', '',
  ].join('\n');
  const descSectors = Math.ceil(Buffer.byteLength(descriptor) / SECTOR);
  const desc = Buffer.alloc(descSectors * SECTOR);
  desc.write(descriptor, 0, 'latin1');
  let sector = 0;
  const out = (b: Buffer) => { sector += b.length / SECTOR; return b; };
  yield out(sparseHeader(capacitySectors, descSectors, 0xffffffffffffffffn));
  yield out(desc);
  yield out(Buffer.alloc((GRAIN_SECTORS - 1 - descSectors) * SECTOR));

  const grainBytes = GRAIN_SECTORS * SECTOR;
  const zero = Buffer.alloc(grainBytes);
  const gt = new Uint32Array(Math.ceil(grains / GTES_PER_GT) * GTES_PER_GT);
  const grain = Buffer.alloc(grainBytes);
  let fill = 0;
  let g = 0;
  const emit = (): Buffer | null => {
    if (fill < grainBytes) grain.fill(0, fill);
    const index = g++;
    fill = 0;
    if (grain.equals(zero)) return null; // unallocated grains read as zeros
    const z = deflateSync(grain);
    const m = Buffer.alloc(Math.ceil((12 + z.length) / SECTOR) * SECTOR);
    m.writeBigUInt64LE(BigInt(index * GRAIN_SECTORS), 0);
    m.writeUInt32LE(z.length, 8);
    z.copy(m, 12);
    gt[index] = sector;
    return out(m);
  };
  outer: for await (const chunk of data) {
    let b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    while (b.length) {
      if (g >= grains) break outer;
      const n = Math.min(b.length, grainBytes - fill);
      b.copy(grain, fill, 0, n);
      fill += n;
      b = b.subarray(n);
      if (fill === grainBytes) { const m = emit(); if (m) yield m; }
    }
  }
  if (fill > 0 && g < grains) { const m = emit(); if (m) yield m; }

  const gtSectors = (GTES_PER_GT * 4) / SECTOR;
  const gtCount = gt.length / GTES_PER_GT;
  const gd = new Uint32Array(Math.ceil(gtCount / (SECTOR / 4)) * (SECTOR / 4));
  for (let i = 0; i < gtCount; i++) {
    const table = gt.subarray(i * GTES_PER_GT, (i + 1) * GTES_PER_GT);
    if (table.every((x) => x === 0)) continue;
    yield out(sparseMarker(gtSectors, 1));
    gd[i] = sector;
    yield out(Buffer.from(table.buffer, table.byteOffset, table.byteLength));
  }
  yield out(sparseMarker(gd.byteLength / SECTOR, 2));
  const gdOffset = sector;
  yield out(Buffer.from(gd.buffer));
  yield out(sparseMarker(1, 3));
  yield out(sparseHeader(capacitySectors, descSectors, BigInt(gdOffset)));
  yield out(sparseMarker(0, 0));
}
