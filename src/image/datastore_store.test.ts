// The vSphere datastore image store against a real vcsim (over TLS with the test CA): bytes go up
// and come back identical through the /folder HTTP access, ranges are served by the server,
// refused and broken uploads leave nothing on the datastore, and deletes are idempotent. What is
// on the datastore is checked with govc, not with the store's own answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startVcsim, vcsimTestOptions, type Vcsim } from '../drivers/vsphere/testing.ts';
import { VSphereSession } from '../drivers/vsphere/session.ts';
import type { VCenterConfig } from '../drivers/vsphere/config.ts';
import { DatastoreStore, RoutedStore, Slice, UnknownVCenter } from './datastore_store.ts';
import { FileStore, ImageSizeLimitExceeded, StoreNotFound } from './store.ts';
import { startTestCloud, login } from '../testing.ts';

const MiB = 1 << 20;

/** Deterministic bytes: position-dependent so any shifted or reordered range shows. */
function pattern(total: number, seed = 1): Buffer {
  const b = Buffer.alloc(total);
  for (let i = 0; i < total; i++) b[i] = (i * 31 + seed + (i >> 12)) % 253;
  return b;
}

/** A stream of `buf` in chunks of `chunk` bytes, produced on demand. */
function chunked(buf: Buffer, chunk = 256 * 1024): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= buf.length) return this.push(null);
      this.push(buf.subarray(at, at + chunk));
      at += chunk;
    },
  });
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

let seq = 0;
const key = () => `img-${process.pid}-${++seq}-${Date.now().toString(36)}`;

describe('Slice (for servers that answer a ranged GET with the whole file)', () => {
  it('cuts [start, end) out of any chunking', async () => {
    const data = pattern(10_000, 2);
    for (const chunk of [1, 7, 4096, 10_000]) {
      for (const [start, end] of [[0, 1], [0, 10_000], [4095, 4097], [9_999, 10_000], [123, undefined], [5_000, 20_000], [10_000, undefined]] as const) {
        const got = await collect(chunked(data, chunk).pipe(new Slice(start, end)));
        assert.ok(got.equals(data.subarray(start, end ?? data.length)), `chunk ${chunk}, ${start}-${end}`);
      }
    }
  });
});

describe('DatastoreStore on vcsim', vcsimTestOptions(), () => {
  let sim: Vcsim;
  let session: VSphereSession;
  let store: DatastoreStore;
  let ds: string;

  const config = (over: Partial<VCenterConfig> = {}): VCenterConfig => ({
    name: 'vc1', url: sim.url, username: sim.username, password: sim.password, caFile: sim.caFile, insecure: false,
    folder: 'vistack', imageCacheFolder: 'vistack_image_cache', connections: 8, taskTimeoutMs: 60_000, ...over,
  });

  /** File names in a datastore folder, as govc sees them ([] when the folder is missing). */
  async function ls(folder: string, datastore = ds): Promise<string[]> {
    try {
      const out = await sim.govc('datastore.ls', '-ds', datastore, folder);
      return out.split('\n').map((l) => l.trim()).filter(Boolean);
    } catch (e) {
      if (/not found|no such file/i.test((e as Error).message)) return [];
      throw e;
    }
  }

  before(async () => {
    sim = await startVcsim({ args: ['-ds', '2'] });
    session = new VSphereSession(config());
    await session.open();
    store = new DatastoreStore([session]);
    ds = store.datastore().datastore;
  });
  after(async () => {
    await session?.close();
    await sim?.stop();
  });

  it('stores a few MB and serves them back byte for byte, with the right size and hashes', async () => {
    const data = pattern(5 * MiB + 12345);
    const k = key();
    const stored = await store.put(k, chunked(data), { sizeCap: 64 * MiB });
    assert.equal(stored.size, data.length);
    assert.equal(stored.checksum, md5(data));
    assert.equal(stored.osHashAlgo, 'sha512');
    assert.equal(stored.osHashValue, sha512(data));
    assert.equal(stored.location, `vsphere://vc1/${encodeURIComponent(ds)}/vistack_images/${k}`);

    const back = await collect(await store.get(stored.location));
    assert.equal(back.length, data.length);
    assert.ok(back.equals(data), 'downloaded bytes differ from the uploaded ones');

    // On the datastore: the final file, and nothing left in the temporary folder.
    assert.ok((await ls('vistack_images')).includes(k));
    assert.deepEqual(await ls('vistack_images/.tmp'), []);
    const [listing] = JSON.parse(await sim.govc('datastore.ls', '-l', '-json', '-ds', ds, `vistack_images/${k}`));
    assert.equal(listing.File[0].FileSize, data.length);
  });

  it('serves byte ranges, honoured by the server', async () => {
    const data = pattern(3 * MiB, 7);
    const stored = await store.put(key(), chunked(data, 100_000), { sizeCap: 64 * MiB });
    const cases: Array<{ start: number; end?: number }> = [
      { start: 0, end: 1 }, { start: 1, end: 2 }, { start: 12345, end: 1_234_567 }, { start: MiB - 3, end: MiB + 3 },
      { start: 3 * MiB - 10 }, { start: 2 * MiB }, { start: 0, end: 3 * MiB }, { start: 100, end: 3 * MiB + 500 },
    ];
    for (const r of cases) {
      const got = await collect(await store.get(stored.location, r));
      const want = data.subarray(r.start, r.end ?? data.length);
      assert.ok(got.equals(want), `range ${r.start}-${r.end}: ${got.length} bytes, wanted ${want.length}`);
    }
    // Past the end and empty ranges give no bytes, like a file read there.
    assert.equal((await collect(await store.get(stored.location, { start: 3 * MiB + 1 }))).length, 0);
    assert.equal((await collect(await store.get(stored.location, { start: 10, end: 10 }))).length, 0);
    // The server itself cut the range (206), the client did not download the whole file.
    const { datastore, path } = store.parse(stored.location);
    const res = await session.client.download(session.inventory.datacenter.name, datastore, path, { range: { start: 10, end: 20 } });
    assert.equal(res.partial, true);
    assert.equal(res.size, 10);
    assert.ok((await collect(res.stream)).equals(data.subarray(10, 20)));
  });

  it('refuses data beyond the size cap and leaves no file on the datastore', async () => {
    const k = key();
    await assert.rejects(store.put(k, chunked(pattern(3 * MiB)), { sizeCap: MiB }), ImageSizeLimitExceeded);
    // Cap exceeded within the very first chunk: the PUT had barely started.
    const k2 = key();
    await assert.rejects(store.put(k2, chunked(pattern(MiB), MiB), { sizeCap: 10 }), ImageSizeLimitExceeded);
    const files = await ls('vistack_images');
    assert.ok(!files.includes(k) && !files.includes(k2), `left behind: ${files.join(', ')}`);
    assert.deepEqual(await ls('vistack_images/.tmp'), []);
  });

  it('leaves nothing behind when the source breaks or the inspector rejects the data', async () => {
    const k = key();
    let n = 0;
    const broken = new Readable({
      read() {
        if (n++ < 4) this.push(pattern(256 * 1024, n));
        else this.destroy(new Error('client went away'));
      },
    });
    await assert.rejects(store.put(k, broken, { sizeCap: 64 * MiB }), /client went away/);
    const k2 = key();
    let seen = 0;
    const observe = (c: Buffer) => { seen += c.length; if (seen > MiB) throw new Error('not a qcow2 image'); };
    await assert.rejects(store.put(k2, chunked(pattern(2 * MiB)), { sizeCap: 64 * MiB, observe }), /not a qcow2/);
    const files = await ls('vistack_images');
    assert.ok(!files.includes(k) && !files.includes(k2));
    assert.deepEqual(await ls('vistack_images/.tmp'), []);
  });

  it('stores an empty image and replaces data put again under the same key', async () => {
    const k = key();
    const empty = await store.put(k, Readable.from([]), { sizeCap: MiB });
    assert.equal(empty.size, 0);
    assert.equal(empty.checksum, md5(Buffer.alloc(0)));
    assert.equal((await collect(await store.get(empty.location))).length, 0);
    const data = pattern(300_000, 3);
    const again = await store.put(k, chunked(data), { sizeCap: MiB });
    assert.equal(again.location, empty.location);
    assert.ok((await collect(await store.get(again.location))).equals(data));
  });

  it('deletes idempotently; a deleted or never stored image is StoreNotFound', async () => {
    const stored = await store.put(key(), chunked(pattern(100_000)), { sizeCap: MiB });
    await store.delete(stored.location);
    await store.delete(stored.location);
    await assert.rejects(store.get(stored.location), StoreNotFound);
    await assert.rejects(store.get(stored.location, { start: 5, end: 10 }), StoreNotFound);
    assert.ok(!(await ls('vistack_images')).includes(store.parse(stored.location).path.split('/').pop()!));
    await assert.rejects(store.get(`vsphere://vc1/${ds}/vistack_images/never-stored`), StoreNotFound);
  });

  it('rejects locations that are not its own without touching other datastore files', async () => {
    // A file outside the image folder must be neither served nor deleted.
    await session.client.upload(session.inventory.datacenter.name, ds, 'elsewhere/keep.bin', Buffer.from('keep me'));
    for (const bad of [
      `vsphere://vc1/${ds}/elsewhere/keep.bin`, `vsphere://vc1/${ds}/vistack_images/../elsewhere/keep.bin`,
      `vsphere://vc1/${ds}/vistack_images/a/b`, `vsphere://vc1/${ds}/vistack_images%2F..%2Felsewhere/keep.bin`,
      `vsphere://vc1/${ds}`, 'vsphere://', 'vsphere://vc1/%E0%A4%A/vistack_images/x', 'file:///tmp/x', 'garbage',
    ]) {
      await assert.rejects(store.get(bad), StoreNotFound, bad);
      await store.delete(bad);
    }
    assert.deepEqual(await ls('elsewhere'), ['keep.bin']);
    // Data on a vCenter that is no longer configured: not found to readers, an error to deletes.
    await assert.rejects(store.get(`vsphere://vc-gone/${ds}/vistack_images/x`), UnknownVCenter);
    await assert.rejects(store.delete(`vsphere://vc-gone/${ds}/vistack_images/x`), /vc-gone.*not configured/);
    assert.throws(() => new DatastoreStore([session], { folder: '../up' }), /bad image folder/);
    assert.throws(() => new DatastoreStore([]), /at least one vCenter/);
    await assert.rejects(store.put('../x', Readable.from([]), { sizeCap: 1 }), /bad store key/);
    await assert.rejects(store.put('.tmp', Readable.from([]), { sizeCap: 1 }), /bad store key/);
  });

  it('uses the configured image datastore, and says so when it does not exist', async () => {
    const names = session.inventory.datastores.map((d) => d.name);
    assert.ok(names.length >= 2, `vcsim -ds 2 gives two datastores: ${names.join(', ')}`);
    assert.equal(ds, names[0], 'without imageDatastore: the inventory\'s first datastore');
    const other = names[1]!;
    const s2 = new VSphereSession(config({ name: 'vc-other', imageDatastore: other }));
    await s2.open();
    try {
      const st = new DatastoreStore([session, s2]);
      assert.equal(st.datastore().datastore, other);
      const data = pattern(200_000, 9);
      const stored = await st.put(key(), chunked(data), { sizeCap: MiB });
      assert.ok(stored.location.startsWith(`vsphere://vc-other/${encodeURIComponent(other)}/vistack_images/`));
      assert.ok((await ls('vistack_images', other)).includes(stored.location.split('/').pop()!));
      assert.ok((await collect(await st.get(stored.location))).equals(data));
      // Images of the first vCenter stay readable through the same store.
      const first = await store.put(key(), chunked(data), { sizeCap: MiB });
      assert.ok((await collect(await st.get(first.location))).equals(data));
      await st.delete(stored.location);
      assert.ok(!(await ls('vistack_images', other)).includes(stored.location.split('/').pop()!));
    } finally { await s2.close(); }
    const s3 = new VSphereSession(config({ name: 'vc-bad', imageDatastore: 'NoSuchDS' }));
    await s3.open();
    try {
      assert.throws(() => new DatastoreStore([s3]).check(), /image datastore "NoSuchDS" is not among its usable datastores/);
    } finally { await s3.close(); }
  });

  it('sweeps temporary files of dead uploads, only stale ones by default', async () => {
    const dc = session.inventory.datacenter.name;
    await session.client.upload(dc, ds, 'vistack_images/.tmp/dead.abc.part', Buffer.from('partial'));
    assert.equal(await store.cleanTemporary(), 0, 'a fresh file may be an upload in progress elsewhere');
    assert.deepEqual(await ls('vistack_images/.tmp'), ['dead.abc.part']);
    await new Promise((r) => setTimeout(r, 1100)); // datastore times may have whole-second precision
    assert.equal(await store.cleanTemporary(1000), 1, 'stale by its modification time');
    assert.deepEqual(await ls('vistack_images/.tmp'), []);
  });

  it('routes by location scheme: new data to the datastore, file:// images still readable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vistack-dsstore-'));
    try {
      const files = new FileStore(dir);
      const old = await files.put('old-image', chunked(pattern(50_000, 4)), { sizeCap: MiB });
      const routed = new RoutedStore(store, [files]);
      assert.equal(routed.id, 'vsphere');
      const fresh = await routed.put(key(), chunked(pattern(60_000, 5)), { sizeCap: MiB });
      assert.ok(fresh.location.startsWith('vsphere://'));
      assert.ok((await collect(await routed.get(old.location))).equals(pattern(50_000, 4)));
      assert.ok((await collect(await routed.get(old.location, { start: 10, end: 20 }))).equals(pattern(50_000, 4).subarray(10, 20)));
      assert.ok((await collect(await routed.get(fresh.location))).equals(pattern(60_000, 5)));
      await routed.delete(old.location);
      await routed.delete(fresh.location);
      await assert.rejects(routed.get(old.location), StoreNotFound);
      await assert.rejects(routed.get(fresh.location), StoreNotFound);
      await assert.rejects(routed.get('swift://x/y'), StoreNotFound);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('VISTACK_IMAGE_STORE=vsphere in a whole cloud', vcsimTestOptions(), () => {
  const saved = { ...process.env };
  after(() => {
    for (const k of ['VISTACK_IMAGE_STORE', 'VISTACK_DRIVER', 'VISTACK_VSPHERE_URL', 'VISTACK_VSPHERE_CA_FILE']) {
      if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  });

  it('refuses to start with the simulator driver, with a clear message', async () => {
    process.env.VISTACK_IMAGE_STORE = 'vsphere';
    delete process.env.VISTACK_DRIVER;
    await assert.rejects(startTestCloud({ driver: 'simulator', seed: false }), /VISTACK_IMAGE_STORE=vsphere .*needs VISTACK_DRIVER=vsphere/);
    process.env.VISTACK_IMAGE_STORE = 'swift';
    await assert.rejects(startTestCloud({ driver: 'simulator', seed: false }), /VISTACK_IMAGE_STORE=swift is not an image store/);
  });

  it('keeps uploaded images on the vCenter datastore, served with ranges over the Glance API', async () => {
    const sim = await startVcsim();
    Object.assign(process.env, sim.env, { VISTACK_IMAGE_STORE: 'vsphere' });
    let cloud;
    try {
      cloud = await startTestCloud({ driver: 'vsphere', seed: false });
      const s = await login(cloud);
      const created = await s.json('POST', '/image/v2/images', { name: 'on-ds', disk_format: 'raw', container_format: 'bare' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id;
      const data = pattern(2 * MiB + 77, 11);
      const up = await fetch(`${cloud.url}/image/v2/images/${id}/file`, {
        method: 'PUT', body: Uint8Array.from(data), headers: { 'x-auth-token': s.token, 'content-type': 'application/octet-stream' },
      });
      assert.equal(up.status, 204, await up.text());
      const img = (await s.json('GET', `/image/v2/images/${id}`)).body;
      assert.equal(img.status, 'active');
      assert.equal(img.size, data.length);
      assert.equal(img.checksum, md5(data));
      assert.equal(img.os_hash_value, sha512(data));
      const ds = (await sim.govc('datastore.ls', 'vistack_images')).split('\n').map((l) => l.trim());
      assert.ok(ds.includes(id), `image ${id} is on the datastore: ${ds.join(', ')}`);
      const all = await s.request('GET', `/image/v2/images/${id}/file`);
      assert.equal(all.status, 200);
      assert.ok(Buffer.from(await all.arrayBuffer()).equals(data));
      const part = await s.request('GET', `/image/v2/images/${id}/file`, undefined, { range: 'bytes=1000-1999999' });
      assert.equal(part.status, 206);
      assert.ok(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1000, 2_000_000)));
      const del = await s.request('DELETE', `/image/v2/images/${id}`);
      assert.equal(del.status, 204);
      assert.ok(!(await sim.govc('datastore.ls', 'vistack_images')).split('\n').map((l) => l.trim()).includes(id));
    } finally {
      await cloud?.close();
      await sim.stop();
    }
  });
});
