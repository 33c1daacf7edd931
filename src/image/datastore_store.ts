// Glance's VMware datastore store: image bytes kept as plain files in a folder of a vSphere
// datastore ("[ds] vistack_images/<image id>"), written and read over the vCenter's datastore
// HTTP access (/folder/<path>?dcPath=&dsName=), streamed both ways. An upload goes to a temporary
// name under "<folder>/.tmp" and is moved into place (FileManager.MoveDatastoreFile_Task) only
// once every byte has arrived and the size reads back right, so the final name never holds a
// partial image. Locations are "vsphere://<vCenter name>/<datastore>/<folder>/<image id>".
import { randomBytes } from 'node:crypto';
import { pipeline as pipe, Readable, Transform, type TransformCallback } from 'node:stream';
import { Datastores, dsPath } from '../drivers/vsphere/ds_util.ts';
import type { VSphereSession } from '../drivers/vsphere/session.ts';
import { isFault } from '../drivers/vsphere/vim/client.ts';
import { HashingCounter, StoreNotFound, type PutOptions, type Store, type StoredData } from './store.ts';

const PREFIX = 'vsphere://';
const TMP = '.tmp';

export interface DatastoreStoreOptions {
  /** The datastore folder holding the images (default "vistack_images"). */
  folder?: string;
}

interface Place { session: VSphereSession; datastore: string; path: string }

/** Bytes [start, end) of a stream, for servers that answer a ranged GET with the whole file. */
export class Slice extends Transform {
  private pos = 0;
  private readonly from: number;
  private readonly to: number;
  constructor(start: number, end = Infinity) { super(); this.from = start; this.to = end; }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
    const at = this.pos;
    this.pos += chunk.length;
    if (this.pos <= this.from || at >= this.to) return cb();
    cb(null, chunk.subarray(Math.max(0, this.from - at), Math.min(chunk.length, this.to - at)));
  }
}

const enc = (s: string) => encodeURIComponent(s);

export class DatastoreStore implements Store {
  readonly id = 'vsphere';
  readonly folder: string;
  private readonly sessions: VSphereSession[];

  constructor(sessions: VSphereSession[], opts: DatastoreStoreOptions = {}) {
    if (!sessions.length) throw new Error('the vsphere image store needs at least one vCenter session');
    this.sessions = sessions;
    this.folder = (opts.folder ?? 'vistack_images').replace(/^\/+|\/+$/g, '');
    if (!this.folder || this.folder.split('/').some((p) => !p || p === '.' || p === '..')) throw new Error(`bad image folder "${opts.folder}"`);
  }

  /** The vCenter that takes new images: the first one with an image datastore configured, else the first. */
  private get writer(): VSphereSession {
    return this.sessions.find((s) => s.config.imageDatastore) ?? this.sessions[0]!;
  }

  /** The datastore new images go to (configured imageDatastore, else the inventory's first); throws when there is none. */
  datastore(): { session: VSphereSession; datastore: string } {
    const session = this.writer;
    const inv = session.inventory;
    const wanted = session.config.imageDatastore;
    if (wanted) {
      if (!inv.datastores?.some((d) => d.name === wanted)) {
        throw new Error(`vCenter ${session.config.name}: the image datastore "${wanted}" is not among its usable datastores (${(inv.datastores ?? []).map((d) => d.name).join(', ') || 'none'})`);
      }
      return { session, datastore: wanted };
    }
    const first = inv.datastores?.[0];
    if (!first) throw new Error(`vCenter ${session.config.name} has no datastore for images`);
    return { session, datastore: first.name };
  }

  /** Validates the configuration at start (the datastore exists) so a bad one fails early. */
  check(): void { this.datastore(); }

  locationOf(session: VSphereSession, datastore: string, path: string): string {
    return PREFIX + [session.config.name, datastore, ...path.split('/')].map(enc).join('/');
  }

  /** Parses a location back into vCenter, datastore and path; StoreNotFound for anything else. */
  parse(location: string): Place {
    if (!location.startsWith(PREFIX)) throw new StoreNotFound(`not a vsphere location: ${location}`);
    let parts: string[];
    try { parts = location.slice(PREFIX.length).split('/').map((p) => decodeURIComponent(p)); } catch {
      throw new StoreNotFound(`malformed vsphere location: ${location}`);
    }
    const [vc, datastore, ...rest] = parts;
    const path = rest.join('/');
    if (!vc || !datastore || rest.length < 2 || rest.some((p) => !p || p === '.' || p === '..' || p.includes('/'))) {
      throw new StoreNotFound(`malformed vsphere location: ${location}`);
    }
    // Only files of the image folder: a bad location must never reach other datastore files.
    if (!path.startsWith(this.folder + '/') || path.slice(this.folder.length + 1).includes('/')) {
      throw new StoreNotFound(`location outside the image folder "${this.folder}": ${location}`);
    }
    const session = this.sessions.find((s) => s.config.name === vc);
    if (!session) throw new UnknownVCenter(`image data is on vCenter "${vc}", which is not configured`);
    return { session, datastore, path };
  }

  async put(key: string, data: Readable, opts: PutOptions): Promise<StoredData> {
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(key)) throw new Error(`bad store key ${key}`);
    const { session, datastore } = this.datastore();
    const ds = new Datastores(session.inventory);
    const dc = session.inventory.datacenter.name;
    const tmpDir = `${this.folder}/${TMP}`;
    const tmpName = `${key}.${randomBytes(6).toString('hex')}.part`;
    const tmp = `${tmpDir}/${tmpName}`;
    const final = `${this.folder}/${key}`;
    const counter = new HashingCounter(opts.sizeCap, opts.observe);
    let failure: unknown = null;
    try {
      await ds.mkdir(datastore, tmpDir);
      // pipeline forwards an error of the source (client gone) into the counter and destroys
      // the source when the counter stops early.
      const hashed = pipe(data, counter, () => undefined);
      // On a size-cap or inspection error the body is ended cleanly rather than aborted: the
      // server then finishes and closes the temporary file, and the delete below cannot race
      // a PUT that is still writing.
      async function* body() {
        try { for await (const chunk of hashed) yield chunk as Buffer; } catch (e) { failure = e; }
      }
      await session.client.upload(dc, datastore, tmp, Readable.from(body(), { objectMode: false }));
      if (failure) throw failure;
      const seen = (await ds.list(datastore, tmpDir, tmpName)).find((f) => f.path === tmpName);
      // vcsim leaves fileSize out for an empty file.
      if (!seen || Number(seen.fileSize ?? 0) !== counter.size) {
        throw new Error(`upload to [${datastore}] ${tmp} is incomplete: ${seen ? seen.fileSize : 'no file'} of ${counter.size} bytes arrived`);
      }
      // force: a retried import may find its own earlier copy at the final name.
      await session.client.runTask('MoveDatastoreFile_Task', session.client.content.fileManager!, {
        sourceName: dsPath(datastore, tmp), sourceDatacenter: session.inventory.datacenter.ref,
        destinationName: dsPath(datastore, final), destinationDatacenter: session.inventory.datacenter.ref, force: true,
      });
    } catch (e) {
      data.destroy();
      counter.destroy();
      // Best effort: what a lost connection leaves behind, the sweep at start removes.
      await ds.deleteFile(dsPath(datastore, tmp)).catch(() => undefined);
      // The cause (size cap, inspection, client gone) over what the upload made of it.
      throw failure ?? e;
    }
    const { checksum, osHashValue } = counter.digests();
    return { location: this.locationOf(session, datastore, final), size: counter.size, checksum, osHashAlgo: 'sha512', osHashValue };
  }

  async get(location: string, range?: { start: number; end?: number }): Promise<Readable> {
    const { session, datastore, path } = this.parse(location);
    const dc = session.inventory.datacenter.name;
    const empty = range && range.end !== undefined && range.end <= range.start;
    let res;
    try {
      // An empty range still tells a missing file from a present one.
      res = await session.client.download(dc, datastore, path, range ? { range: empty ? { start: 0, end: 1 } : range } : {});
    } catch (e) {
      if (isFault(e, 'FileNotFound')) throw new StoreNotFound(`no data at ${location}`);
      throw e;
    }
    if (empty) { res.stream.on('error', () => undefined).destroy(); return Readable.from([]); }
    if (range && !res.partial) return pipe(res.stream, new Slice(range.start, range.end), () => undefined) as Readable;
    return res.stream;
  }

  async delete(location: string): Promise<void> {
    let place: Place;
    try { place = this.parse(location); } catch (e) {
      if (e instanceof UnknownVCenter) throw e; // data that exists but cannot be reached: say so
      return;
    }
    await new Datastores(place.session.inventory).deleteFile(dsPath(place.datastore, place.path));
  }

  /**
   * Removes temporary files left by uploads that died with their process. Only files untouched
   * for `olderThanMs`: another node may be uploading to the same folder right now.
   */
  async cleanTemporary(olderThanMs = 3_600_000): Promise<number> {
    const { session, datastore } = this.datastore();
    const ds = new Datastores(session.inventory);
    const tmpDir = `${this.folder}/${TMP}`;
    let removed = 0;
    for (const f of await ds.list(datastore, tmpDir, '*.part')) {
      const mtime = f.modification ? Date.parse(f.modification) : NaN;
      if (olderThanMs > 0 && !(Date.now() - mtime >= olderThanMs)) continue;
      await ds.deleteFile(dsPath(datastore, `${tmpDir}/${f.path}`));
      removed++;
    }
    return removed;
  }
}

/** The location names a vCenter this process does not know (configuration changed). */
export class UnknownVCenter extends StoreNotFound {}

/**
 * Several stores behind one: new data goes to the primary, existing data is read and deleted
 * by the store its location's scheme names (file:// images stay readable after a switch).
 */
export class RoutedStore implements Store {
  readonly id: string;
  readonly primary: Store;
  readonly stores: Store[];
  constructor(primary: Store, others: Store[] = []) {
    this.id = primary.id;
    this.primary = primary;
    this.stores = [primary, ...others.filter((s) => s !== primary)];
  }

  private storeOf(location: string): Store | undefined {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
    return this.stores.find((s) => s.id === scheme);
  }

  put(key: string, data: Readable, opts: PutOptions): Promise<StoredData> { return this.primary.put(key, data, opts); }

  async get(location: string, range?: { start: number; end?: number }): Promise<Readable> {
    const s = this.storeOf(location);
    if (!s) throw new StoreNotFound(`no store for ${location}`);
    return s.get(location, range);
  }

  async delete(location: string): Promise<void> {
    const s = this.storeOf(location);
    if (!s) throw new Error(`no configured store can delete ${location}`);
    await s.delete(location);
  }

  /** The start-time sweep of the primary's temporary files (only the primary takes uploads). */
  async cleanTemporary(): Promise<void> {
    await (this.primary as { cleanTemporary?: () => Promise<unknown> }).cleanTemporary?.();
  }
}
