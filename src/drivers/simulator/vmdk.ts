// A real, empty VMDK of any virtual size: a hosted sparse extent ("monolithicSparse") whose grain
// directory has no grain tables, so every sector reads as zero. Its size is a few sectors per
// 32 MiB of virtual disk, so a 1 TiB disk exports as ~128 KiB. qemu-img and VMware tools read it.
import { Readable } from 'node:stream';

const SECTOR = 512;
const GRAIN_SECTORS = 128; // 64 KiB grains, VMware's default
const GTES_PER_GT = 512;

export function sparseVmdk(capacityBytes: number, name = 'disk.vmdk'): Buffer {
  const capacity = Math.ceil(capacityBytes / SECTOR); // sectors
  const gts = Math.max(1, Math.ceil(capacity / (GRAIN_SECTORS * GTES_PER_GT)));
  const cylinders = Math.min(65535, Math.max(1, Math.floor(capacity / (255 * 63))));
  const cid = (Math.floor(Math.random() * 0xffffffff) >>> 0).toString(16).padStart(8, '0');
  const descriptor = [
    '# Disk DescriptorFile', 'version=1', 'encoding="UTF-8"', `CID=${cid}`, 'parentCID=ffffffff',
    'createType="monolithicSparse"', '', '# Extent description', `RW ${capacity} SPARSE "${name}"`, '',
    '# The Disk Data Base', '#DDB', '', 'ddb.adapterType = "lsilogic"', `ddb.geometry.cylinders = "${cylinders}"`,
    'ddb.geometry.heads = "255"', 'ddb.geometry.sectors = "63"', 'ddb.virtualHWVersion = "19"', '',
  ].join('\n');
  const descSectors = 20; // room VMware reserves for the embedded descriptor
  const gdOffset = 1 + descSectors;
  const gdSectors = Math.ceil((gts * 4) / SECTOR);
  const overhead = Math.ceil((gdOffset + gdSectors) / GRAIN_SECTORS) * GRAIN_SECTORS;

  const out = Buffer.alloc(overhead * SECTOR);
  out.writeUInt32LE(0x564d444b, 0); // "KDMV"
  out.writeUInt32LE(1, 4); // version
  out.writeUInt32LE(1, 8); // flags: valid new-line detection test
  out.writeBigUInt64LE(BigInt(capacity), 12);
  out.writeBigUInt64LE(BigInt(GRAIN_SECTORS), 20);
  out.writeBigUInt64LE(1n, 28); // descriptor offset
  out.writeBigUInt64LE(BigInt(descSectors), 36);
  out.writeUInt32LE(GTES_PER_GT, 44);
  out.writeBigUInt64LE(0n, 48); // no redundant grain directory
  out.writeBigUInt64LE(BigInt(gdOffset), 56);
  out.writeBigUInt64LE(BigInt(overhead), 64);
  out.writeUInt8(0, 72); // clean shutdown
  out.write('\n \r\n', 73, 'latin1'); // new-line detection characters
  out.writeUInt16LE(0, 77); // no compression
  out.write(descriptor, SECTOR, 'utf8'); // grain directory stays zero: no grain tables allocated
  return out;
}

export function sparseVmdkStream(capacityBytes: number, name?: string): Readable {
  return Readable.from([sparseVmdk(capacityBytes, name)]);
}

/** Reads back the virtual size of a sparse VMDK produced above (tests, sanity checks). */
export function vmdkCapacity(buf: Buffer): number {
  if (buf.readUInt32LE(0) !== 0x564d444b) throw new Error('not a sparse VMDK');
  return Number(buf.readBigUInt64LE(12)) * SECTOR;
}
