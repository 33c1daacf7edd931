// The filesystem store streams: data flows through a fixed pipeline (read chunk → hash → write)
// with backpressure, so memory stays constant whatever the size. These tests push 72 MiB from a
// generator (never held in memory) and check what comes back byte for byte and hash for hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FileStore, StagingArea, ImageSizeLimitExceeded, StoreNotFound } from './store.ts';

const MiB = 1 << 20;

/** A deterministic stream of `total` bytes, made chunk by chunk. */
function generated(total: number, chunk = MiB): Readable {
  let sent = 0, n = 0;
  return new Readable({
    read() {
      if (sent >= total) return this.push(null);
      const size = Math.min(chunk, total - sent);
      const b = Buffer.alloc(size, n++ % 251);
      if (size >= 4) b.writeUInt32LE(n, 0);
      sent += size;
      this.push(b);
    },
  });
}

async function digest(r: Readable) {
  const md5 = createHash('md5'), sha = createHash('sha512');
  let size = 0;
  for await (const c of r) { md5.update(c); sha.update(c); size += c.length; }
  return { size, md5: md5.digest('hex'), sha512: sha.digest('hex') };
}

function tempStore() {
  const dir = mkdtempSync(join(tmpdir(), 'vistack-store-'));
  return { dir, store: new FileStore(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a 72 MiB stream is stored and read back identical, with its md5 and sha512', async () => {
  const { store, cleanup } = tempStore();
  try {
    const total = 72 * MiB + 123;
    const expected = await digest(generated(total));
    const stored = await store.put('big', generated(total), { sizeCap: 1024 * MiB });
    assert.equal(stored.size, total);
    assert.equal(stored.checksum, expected.md5);
    assert.equal(stored.osHashAlgo, 'sha512');
    assert.equal(stored.osHashValue, expected.sha512);
    const back = await digest(await store.get(stored.location));
    assert.deepEqual(back, expected);
  } finally { cleanup(); }
});

test('ranges read the requested bytes only', async () => {
  const { store, cleanup } = tempStore();
  try {
    const stored = await store.put('r', Readable.from([Buffer.from('0123456789')]), { sizeCap: 100 });
    const read = async (range?: { start: number; end?: number }) => {
      const parts: Buffer[] = [];
      for await (const c of await store.get(stored.location, range)) parts.push(c);
      return Buffer.concat(parts).toString();
    };
    assert.equal(await read({ start: 2, end: 5 }), '234');
    assert.equal(await read({ start: 7 }), '789');
    assert.equal(await read(), '0123456789');
  } finally { cleanup(); }
});

test('data over the size cap is refused and nothing is left behind', async () => {
  const { dir, store, cleanup } = tempStore();
  try {
    await assert.rejects(store.put('capped', generated(3 * MiB), { sizeCap: 2 * MiB }), ImageSizeLimitExceeded);
    assert.equal(existsSync(join(dir, 'capped')), false);
    assert.deepEqual(readdirSync(join(dir, '.tmp')), []);
  } finally { cleanup(); }
});

test('a stream that breaks midway leaves no partial file', async () => {
  const { dir, store, cleanup } = tempStore();
  try {
    let n = 0;
    const broken = new Readable({
      read() {
        if (n++ < 3) this.push(Buffer.alloc(MiB, 1));
        else this.destroy(new Error('connection reset'));
      },
    });
    await assert.rejects(store.put('broken', broken, { sizeCap: 100 * MiB }), /connection reset/);
    assert.equal(existsSync(join(dir, 'broken')), false);
    assert.deepEqual(readdirSync(join(dir, '.tmp')), []);
  } finally { cleanup(); }
});

test('an observer that throws aborts the write (format inspection)', async () => {
  const { dir, store, cleanup } = tempStore();
  try {
    const observe = () => { throw new Error('bad format'); };
    await assert.rejects(store.put('obs', generated(MiB), { sizeCap: 10 * MiB, observe }), /bad format/);
    assert.equal(existsSync(join(dir, 'obs')), false);
  } finally { cleanup(); }
});

test('delete is idempotent and foreign locations are not touched', async () => {
  const { store, cleanup } = tempStore();
  try {
    const stored = await store.put('d', Readable.from([Buffer.from('x')]), { sizeCap: 10 });
    await store.delete(stored.location);
    await store.delete(stored.location);
    await assert.rejects(store.get(stored.location), StoreNotFound);
    await store.delete('file:///etc/passwd'); // outside the store: ignored
    assert.ok(existsSync('/etc/passwd'));
    await assert.rejects(store.get('file:///etc/passwd'), StoreNotFound);
  } finally { cleanup(); }
});

test('the staging area keeps data under the image id until deleted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vistack-staging-'));
  try {
    const staging = new StagingArea(dir);
    assert.equal(await staging.put('img', generated(MiB + 1), 10 * MiB), MiB + 1);
    assert.ok(await staging.exists('img'));
    assert.equal((await digest(staging.open('img'))).size, MiB + 1);
    await staging.delete('img');
    assert.equal(await staging.exists('img'), false);
    await assert.rejects(staging.put('big', generated(2 * MiB), MiB), ImageSizeLimitExceeded);
    assert.equal(await staging.exists('big'), false);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
