// Writes a stream-optimized VMDK (VMware Virtual Disk Format 1.1, the format vSphere imports
// and Glance's vmware_disktype=streamOptimized describes): a sparse extent header, the text
// descriptor, deflate-compressed grains each behind a grain marker, then grain tables, the grain
// directory and a footer, all sector (512 B) aligned. Used to make the seed image without
// downloading anything.
import { deflateSync } from 'node:zlib';

const SECTOR = 512;
const GRAIN_SECTORS = 128; // 64 KiB grains
const GTES_PER_GT = 512;
const GD_AT_END = 0xffffffffffffffffn;
const MARKER_EOS = 0, MARKER_GT = 1, MARKER_GD = 2, MARKER_FOOTER = 3;

const pad = (n: number) => Math.ceil(n / SECTOR) * SECTOR;

function header(capacitySectors: number, descSectors: number, gdOffset: bigint): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.writeUInt32LE(0x564d444b, 0); // "KDMV"
  h.writeUInt32LE(3, 4); // version 3: compressed grains and markers
  h.writeUInt32LE(0x1 | 0x10000 | 0x20000, 8); // newline test, compressed grains, markers
  h.writeBigUInt64LE(BigInt(capacitySectors), 12);
  h.writeBigUInt64LE(BigInt(GRAIN_SECTORS), 20);
  h.writeBigUInt64LE(1n, 28); // descriptor right after the header
  h.writeBigUInt64LE(BigInt(descSectors), 36);
  h.writeUInt32LE(GTES_PER_GT, 44);
  h.writeBigUInt64LE(0n, 48); // no redundant grain directory
  h.writeBigUInt64LE(gdOffset, 56);
  h.writeBigUInt64LE(BigInt(GRAIN_SECTORS), 64); // overhead: grains start at the first grain boundary
  h.writeUInt8(0, 72);
  h.write('\n \r\n', 73, 'latin1');
  h.writeUInt16LE(1, 77); // deflate
  return h;
}

function marker(val: number, size: number, type: number): Buffer {
  const m = Buffer.alloc(SECTOR);
  m.writeBigUInt64LE(BigInt(val), 0);
  m.writeUInt32LE(size, 8);
  m.writeUInt32LE(type, 12);
  return m;
}

export interface VmdkOptions {
  /** Virtual disk size in bytes (a multiple of 64 KiB). */
  capacity: number;
  /** The disk's contents from offset 0; everything after it reads as zeros. */
  data: Buffer;
  fileName: string;
  adapterType?: string;
  /** Descriptor content id, 8 hex digits (fixed for reproducible output). */
  cid?: string;
}

export function streamOptimizedVmdk(o: VmdkOptions): Buffer {
  const grainBytes = GRAIN_SECTORS * SECTOR;
  if (o.capacity % grainBytes) throw new Error('capacity must be a multiple of 64 KiB');
  const capacitySectors = o.capacity / SECTOR;
  const cylinders = Math.max(1, Math.min(65535, Math.floor(capacitySectors / (255 * 63))));
  const descriptor = [
    '# Disk DescriptorFile', 'version=1', `CID=${o.cid ?? 'fffffffe'}`, 'parentCID=ffffffff', 'createType="streamOptimized"', '',
    '# Extent description', `RW ${capacitySectors} SPARSE "${o.fileName}"`, '',
    '# The Disk Data Base', '#DDB', '',
    `ddb.adapterType = "${o.adapterType ?? 'lsilogic'}"`, `ddb.geometry.cylinders = "${cylinders}"`,
    'ddb.geometry.heads = "255"', 'ddb.geometry.sectors = "63"', 'ddb.virtualHWVersion = "4"', 'ddb.toolsVersion = "0"', '',
  ].join('\n');
  const descSectors = Math.ceil(Buffer.byteLength(descriptor) / SECTOR);
  if (1 + descSectors > GRAIN_SECTORS) throw new Error('descriptor too large');

  const parts: Buffer[] = [];
  let sector = 0;
  const push = (b: Buffer) => { parts.push(b); sector += b.length / SECTOR; };
  push(header(capacitySectors, descSectors, GD_AT_END));
  const desc = Buffer.alloc(descSectors * SECTOR);
  desc.write(descriptor, 0, 'latin1');
  push(desc);
  push(Buffer.alloc((GRAIN_SECTORS - sector) * SECTOR)); // pad to the overhead

  const grains = capacitySectors / GRAIN_SECTORS;
  const gt = new Uint32Array(Math.ceil(grains / GTES_PER_GT) * GTES_PER_GT);
  for (let g = 0; g * grainBytes < o.data.length; g++) {
    const chunk = Buffer.alloc(grainBytes);
    o.data.copy(chunk, 0, g * grainBytes, Math.min(o.data.length, (g + 1) * grainBytes));
    if (chunk.every((b) => b === 0)) continue; // unallocated grains read as zeros
    const z = deflateSync(chunk);
    const m = Buffer.alloc(pad(12 + z.length));
    m.writeBigUInt64LE(BigInt(g * GRAIN_SECTORS), 0);
    m.writeUInt32LE(z.length, 8);
    z.copy(m, 12);
    gt[g] = sector;
    push(m);
  }

  const gtCount = gt.length / GTES_PER_GT;
  const gd = new Uint32Array(Math.ceil(gtCount / (SECTOR / 4)) * (SECTOR / 4));
  const gtSectors = (GTES_PER_GT * 4) / SECTOR;
  for (let i = 0; i < gtCount; i++) {
    const table = gt.subarray(i * GTES_PER_GT, (i + 1) * GTES_PER_GT);
    if (table.every((x) => x === 0)) continue;
    push(marker(gtSectors, 0, MARKER_GT));
    gd[i] = sector;
    push(Buffer.from(table.buffer, table.byteOffset, table.byteLength));
  }
  const gdSectors = gd.byteLength / SECTOR;
  push(marker(gdSectors, 0, MARKER_GD));
  const gdOffset = sector;
  push(Buffer.from(gd.buffer));
  push(marker(1, 0, MARKER_FOOTER));
  push(header(capacitySectors, descSectors, BigInt(gdOffset)));
  push(marker(0, 0, MARKER_EOS));
  return Buffer.concat(parts);
}
