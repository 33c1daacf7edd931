// Disk format conversion for os-volume_upload_image, as Cinder's image_utils does with qemu-img
// convert: the simulator's VMDK driver exports a hosted sparse VMDK ("monolithicSparse",
// uncompressed), the vSphere one a stream-optimized VMDK (deflated grains behind markers); a
// request for a raw image gets the disk's sectors in order, unallocated grains as zeros.
import { Readable } from 'node:stream';
import { inflateSync } from 'node:zlib';

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
  if (buf.readUInt16LE(77) === 1) return streamOptimizedToRaw(buf, capacity, grain);
  if (buf.readUInt16LE(77) !== 0) throw new Error('The VMDK uses an unknown compression.');
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

/**
 * Stream-optimized: from the header's overhead on, sector-aligned markers — a grain (LBA, deflated
 * size, data) or a metadata marker (size 0, its length in sectors, a type; type 0 ends the stream).
 */
function streamOptimizedToRaw(buf: Buffer, capacity: number, grain: number): { stream: Readable; size: number } {
  const grains = new Map<number, { at: number; len: number }>();
  let pos = Number(buf.readBigUInt64LE(64)) * SECTOR; // overHead
  while (pos + 12 <= buf.length) {
    const lba = Number(buf.readBigUInt64LE(pos));
    const len = buf.readUInt32LE(pos + 8);
    if (len > 0) {
      grains.set(Math.floor(lba / grain), { at: pos + 12, len });
      pos += Math.ceil((12 + len) / SECTOR) * SECTOR;
      continue;
    }
    const type = buf.readUInt32LE(pos + 12);
    if (type === 0) break;
    pos += SECTOR + lba * SECTOR;
  }
  const size = capacity * SECTOR;
  const grainBytes = grain * SECTOR;
  const count = Math.ceil(capacity / grain);
  const zeros = Buffer.alloc(grainBytes);
  let g = 0;
  const out = new Readable({
    read() {
      for (let k = 0; k < 16; k++) {
        if (g >= count) { this.push(null); return; }
        const len = Math.min(grainBytes, size - g * grainBytes);
        const hit = grains.get(g);
        let chunk: Buffer = zeros.subarray(0, len);
        if (hit) {
          let raw: Buffer;
          try { raw = inflateSync(buf.subarray(hit.at, hit.at + hit.len)); } catch (e) { this.destroy(e as Error); return; }
          chunk = raw.length >= len ? raw.subarray(0, len) : Buffer.concat([raw, zeros.subarray(0, len - raw.length)]);
        }
        g++;
        if (!this.push(chunk)) return;
      }
    },
  });
  return { stream: out, size };
}
