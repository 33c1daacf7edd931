// Disk format conversion for os-volume_upload_image, as Cinder's image_utils does with qemu-img
// convert: the VMDK driver exports a hosted sparse VMDK ("monolithicSparse", uncompressed); a
// request for a raw image gets the disk's sectors in order, unallocated grains as zeros.
import { Readable } from 'node:stream';

const SECTOR = 512;
/** The largest sparse VMDK read into memory for conversion (its metadata and allocated grains). */
const MAX_SPARSE_BYTES = 256 * 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
    n += b.length;
    if (n > MAX_SPARSE_BYTES) throw new Error('The volume\'s VMDK is too large to convert in memory.');
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** Converts a monolithicSparse VMDK stream to a raw image stream (capacity bytes). */
export async function sparseVmdkToRaw(stream: Readable): Promise<{ stream: Readable; size: number }> {
  const buf = await readAll(stream);
  if (buf.length < SECTOR || buf.readUInt32LE(0) !== 0x564d444b) throw new Error('The volume export is not a sparse VMDK.');
  const capacity = Number(buf.readBigUInt64LE(12)); // sectors
  const grain = Number(buf.readBigUInt64LE(20)); // sectors per grain
  const gtes = buf.readUInt32LE(44);
  const gdOffset = Number(buf.readBigUInt64LE(56));
  if (buf.readUInt16LE(77) !== 0) throw new Error('Compressed (stream-optimized) VMDKs are not converted.');
  const grains = Math.ceil(capacity / grain);
  const gts = Math.ceil(grains / gtes);
  /** Sector offset of grain g in the file, 0 when unallocated. */
  const grainAt = (g: number): number => {
    const gt = buf.readUInt32LE(gdOffset * SECTOR + Math.floor(g / gtes) * 4);
    if (!gt || Math.floor(g / gtes) >= gts) return 0;
    const at = gt * SECTOR + (g % gtes) * 4;
    return at + 4 <= buf.length ? buf.readUInt32LE(at) : 0;
  };
  const size = capacity * SECTOR;
  const grainBytes = grain * SECTOR;
  const zeros = Buffer.alloc(grainBytes);
  let g = 0;
  const out = new Readable({
    read() {
      // A few grains per read: the consumer's pace drives the conversion.
      for (let k = 0; k < 16; k++) {
        if (g >= grains) { this.push(null); return; }
        const len = Math.min(grainBytes, size - g * grainBytes);
        const at = grainAt(g) * SECTOR;
        const chunk = at && at + len <= buf.length ? buf.subarray(at, at + len) : zeros.subarray(0, len);
        g++;
        if (!this.push(chunk)) return;
      }
    },
  });
  return { stream: out, size };
}
