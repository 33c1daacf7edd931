// Format inspection on upload: what Glance accepts, the virtual size it records, and what it
// refuses (mismatched disk_format, unsafe qcow2/vmdk). Images are built here byte by byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatInspector, InvalidImageData } from './inspect.ts';
import { tinyVmdk } from './seed.ts';

function inspect(data: Buffer, chunk = 4096): FormatInspector {
  const fi = new FormatInspector();
  for (let o = 0; o < data.length; o += chunk) fi.push(data.subarray(o, o + chunk));
  return fi;
}

function qcow2(virtualSize: number, o: { backing?: boolean; dataFile?: boolean } = {}): Buffer {
  const b = Buffer.alloc(64 * 1024);
  b.write('QFI\xfb', 0, 'latin1');
  b.writeUInt32BE(3, 4);
  if (o.backing) b.writeBigUInt64BE(512n, 8);
  b.writeUInt32BE(16, 20); // cluster bits
  b.writeBigUInt64BE(BigInt(virtualSize), 24);
  if (o.dataFile) b.writeBigUInt64BE(4n, 72);
  return b;
}

test('qcow2: virtual size from the header; backing and data files are unsafe', () => {
  assert.equal(inspect(qcow2(10 * 2 ** 30)).verdict('qcow2'), 10 * 2 ** 30);
  assert.throws(() => inspect(qcow2(2 ** 30, { backing: true })).verdict('qcow2'), InvalidImageData);
  assert.throws(() => inspect(qcow2(2 ** 30, { dataFile: true })).verdict('qcow2'), InvalidImageData);
  // Claimed raw but really a qcow2 with a backing file: still refused.
  assert.throws(() => inspect(qcow2(2 ** 30, { backing: true })).verdict('raw'), InvalidImageData);
});

test('the generated stream-optimized VMDK is recognised with its 1 GiB capacity', () => {
  const fi = inspect(tinyVmdk(), 65536);
  assert.deepEqual(fi.detect(), { format: 'vmdk', virtualSize: 2 ** 30, unsafe: undefined });
  assert.equal(fi.verdict('vmdk'), 2 ** 30);
});

test('a VMDK of a forbidden create type is refused', () => {
  const v = Buffer.from(tinyVmdk());
  const text = v.toString('latin1', 512, 1024).replace('streamOptimized', 'vmfsSparse     ');
  v.write(text, 512, 'latin1');
  assert.throws(() => inspect(v).verdict('vmdk'), /safety checks/);
});

test('random bytes: fine as raw (virtual size = size) or ami, refused as qcow2', () => {
  const data = Buffer.alloc(5000, 7);
  assert.equal(inspect(data).verdict('raw'), 5000);
  assert.equal(inspect(data).verdict('ami'), null);
  assert.throws(() => inspect(data).verdict('qcow2'), /Image disk_format qcow2 does not match stream data raw/);
});

test('a qcow2 claimed as vmdk is a mismatch; as raw it is served raw', () => {
  assert.throws(() => inspect(qcow2(2 ** 30)).verdict('vmdk'), /does not match stream data qcow2/);
  assert.equal(inspect(qcow2(2 ** 30)).verdict('raw'), 64 * 1024);
});

test('ISO 9660: size from the primary volume descriptor', () => {
  const iso = Buffer.alloc(40 * 1024);
  iso.write('\x01CD001', 32768, 'latin1');
  iso.writeUInt32LE(20, 32768 + 80);
  iso.writeUInt16LE(2048, 32768 + 128);
  assert.equal(inspect(iso, 1000).verdict('iso'), 20 * 2048);
});
