// Where image bytes live (glance_store's role). A Store takes a stream and keeps it under a key,
// computing size, MD5 checksum and the SHA-512 multihash on the way through, without ever holding
// more than a few chunks in memory. The filesystem store writes to a temporary file and renames
// it into place, so a failed or interrupted upload never leaves a partial image behind. A vSphere
// datastore store can implement the same interface later.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readdirSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';

export interface StoredData {
  /** Store-specific location, kept in the image record (e.g. "file:///.../images/<id>"). */
  location: string;
  size: number;
  checksum: string; // md5 hex
  osHashAlgo: 'sha512';
  osHashValue: string;
}

export interface PutOptions {
  /** Refuse data beyond this many bytes (Glance's image_size_cap) with ImageSizeLimitExceeded. */
  sizeCap: number;
  /** Sees every chunk as it passes (format inspection); throwing aborts the write. */
  observe?: (chunk: Buffer) => void;
}

export interface Store {
  /** Store id as Glance names backends ("file"). */
  readonly id: string;
  /** Consumes `data` completely and keeps it under `key`; on any error nothing is kept. */
  put(key: string, data: Readable, opts: PutOptions): Promise<StoredData>;
  /** Streams bytes [start, end) of the data at `location` (end exclusive, default: to the end). */
  get(location: string, range?: { start: number; end?: number }): Promise<Readable>;
  /** Removes the data at `location`; missing data is not an error (deletes are retried). */
  delete(location: string): Promise<void>;
}

/** Raised when a stream grows beyond the size cap. */
export class ImageSizeLimitExceeded extends Error {
  constructor(cap: number) { super(`The provided image is too large: more than ${cap} bytes.`); }
}

/** Raised by a store when the location does not (or no longer) exist. */
export class StoreNotFound extends Error {}

/** A pass-through stream that counts, hashes and enforces the size cap. */
export class HashingCounter extends Transform {
  size = 0;
  private md5: Hash = createHash('md5');
  private sha512: Hash = createHash('sha512');
  private cap: number;
  private observe?: (chunk: Buffer) => void;
  constructor(cap: number, observe?: (chunk: Buffer) => void) {
    super();
    this.cap = cap;
    this.observe = observe;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
    this.size += chunk.length;
    if (this.size > this.cap) return cb(new ImageSizeLimitExceeded(this.cap));
    try { this.observe?.(chunk); } catch (e) { return cb(e as Error); }
    this.md5.update(chunk);
    this.sha512.update(chunk);
    cb(null, chunk);
  }
  digests() {
    return { checksum: this.md5.digest('hex'), osHashValue: this.sha512.digest('hex') };
  }
}

const FILE_PREFIX = 'file://';

/** glance_store's filesystem backend: one file per image under <dir>, temporary files in <dir>/.tmp. */
export class FileStore implements Store {
  readonly id = 'file';
  readonly dir: string;
  private readonly tmp: string;
  constructor(dir: string) {
    this.dir = dir;
    this.tmp = join(dir, '.tmp');
    mkdirSync(this.tmp, { recursive: true });
  }

  /** Removes temporary files left by a previous process that died mid-upload. */
  async cleanTemporary(): Promise<void> {
    for (const f of readdirSync(this.tmp)) await rm(join(this.tmp, f), { force: true });
  }

  pathOf(location: string): string {
    if (!location.startsWith(FILE_PREFIX)) throw new StoreNotFound(`not a file location: ${location}`);
    const p = location.slice(FILE_PREFIX.length);
    if (!p.startsWith(this.dir + '/')) throw new StoreNotFound(`location outside the store: ${location}`);
    return p;
  }

  async put(key: string, data: Readable, opts: PutOptions): Promise<StoredData> {
    if (!/^[A-Za-z0-9._-]+$/.test(key)) throw new Error(`bad store key ${key}`);
    const final = join(this.dir, key);
    const part = join(this.tmp, `${key}.${randomBytes(6).toString('hex')}.part`);
    const counter = new HashingCounter(opts.sizeCap, opts.observe);
    try {
      // pipeline propagates backpressure: the request is read only as fast as the disk writes.
      await pipeline(data, counter, createWriteStream(part, { flags: 'wx' }));
      const fh = await open(part, 'r+');
      try { await fh.sync(); } finally { await fh.close(); }
      await rename(part, final);
    } catch (e) {
      data.destroy();
      await rm(part, { force: true });
      throw e;
    }
    const { checksum, osHashValue } = counter.digests();
    return { location: FILE_PREFIX + final, size: counter.size, checksum, osHashAlgo: 'sha512', osHashValue };
  }

  async get(location: string, range?: { start: number; end?: number }): Promise<Readable> {
    const path = this.pathOf(location);
    try { await stat(path); } catch { throw new StoreNotFound(`no data at ${location}`); }
    const opts: { start?: number; end?: number; highWaterMark: number } = { highWaterMark: 1 << 20 };
    if (range) {
      opts.start = range.start;
      if (range.end !== undefined) opts.end = range.end - 1; // fs end is inclusive
    }
    return createReadStream(path, opts);
  }

  async delete(location: string): Promise<void> {
    let path: string;
    try { path = this.pathOf(location); } catch { return; }
    await rm(path, { force: true });
  }
}

/**
 * The staging area of the interoperable import (Glance's node_staging_uri): data PUT to
 * /v2/images/{id}/stage waits here, under the image id, until POST /import moves it to the store.
 */
export class StagingArea {
  readonly dir: string;
  private readonly tmp: string;
  constructor(dir: string) {
    this.dir = dir;
    this.tmp = join(dir, '.tmp');
    mkdirSync(this.tmp, { recursive: true });
  }
  path(imageId: string) { return join(this.dir, imageId); }
  async exists(imageId: string): Promise<boolean> {
    try { await stat(this.path(imageId)); return true; } catch { return false; }
  }
  /** Writes the staged data (temporary file, then rename); returns its size. */
  async put(imageId: string, data: Readable, sizeCap: number): Promise<number> {
    const part = join(this.tmp, `${imageId}.${randomBytes(6).toString('hex')}.part`);
    const counter = new HashingCounter(sizeCap);
    try {
      await pipeline(data, counter, createWriteStream(part, { flags: 'wx' }));
      await rename(part, this.path(imageId));
    } catch (e) {
      data.destroy();
      await rm(part, { force: true });
      throw e;
    }
    return counter.size;
  }
  open(imageId: string): Readable { return createReadStream(this.path(imageId), { highWaterMark: 1 << 20 }); }
  async delete(imageId: string) { await rm(this.path(imageId), { force: true }); }
  async cleanTemporary() { for (const f of readdirSync(this.tmp)) await rm(join(this.tmp, f), { force: true }); }
}
