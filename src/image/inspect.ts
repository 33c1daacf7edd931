// In-flight disk format inspection, as Glance does on upload of `bare` images (oslo.utils
// format_inspector): recognise the format from the first bytes, compute the virtual size, refuse
// data whose format does not match the declared disk_format (image_format.require_image_format_match)
// and images that fail safety checks (qcow2 backing or external data files, VMDKs that reference
// other files). Only the head of the stream is kept (at most HEAD_MAX bytes).

const HEAD_MAX = 1 << 20;

/** The formats the inspector knows; anything else (ami, ari, aki, ploop) cannot be inspected. */
export const INSPECTABLE = new Set(['raw', 'qcow2', 'vhd', 'vhdx', 'vmdk', 'vdi', 'iso']);

export class InvalidImageData extends Error {}

export interface Detected {
  format: string;
  virtualSize: number | null;
  /** Why the image is unsafe to use, if it is. */
  unsafe?: string;
}

export class FormatInspector {
  private chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  /** Feed every chunk of the stream, in order. */
  push = (chunk: Buffer) => {
    this.total += chunk.length;
    if (this.kept < HEAD_MAX) {
      const part = chunk.subarray(0, HEAD_MAX - this.kept);
      this.chunks.push(Buffer.from(part));
      this.kept += part.length;
    }
  };

  detect(): Detected {
    const h = Buffer.concat(this.chunks);
    return detectFormat(h, this.total);
  }

  /**
   * Glance's decision after the upload: the virtual size to record, or InvalidImageData when the
   * data does not match `diskFormat` or is unsafe.
   */
  verdict(diskFormat: string): number | null {
    const d = this.detect();
    if (d.format === diskFormat) {
      if (d.unsafe) throw new InvalidImageData('Image failed safety checks');
      return d.virtualSize;
    }
    if (d.format === 'raw' && !INSPECTABLE.has(diskFormat)) return null; // e.g. ami: not inspectable
    if (diskFormat === 'raw') {
      // Data claimed to be raw is served as raw: its virtual size is its byte size. A rich format
      // with unsafe features is still refused, since a hypervisor might probe it.
      if (d.unsafe) throw new InvalidImageData('Image failed safety checks');
      return this.total;
    }
    throw new InvalidImageData(`Image disk_format ${diskFormat} does not match stream data ${d.format}`);
  }
}

const u32le = (b: Buffer, o: number) => (o + 4 <= b.length ? b.readUInt32LE(o) : 0);
const u64le = (b: Buffer, o: number) => (o + 8 <= b.length ? Number(b.readBigUInt64LE(o)) : 0);
const u64be = (b: Buffer, o: number) => (o + 8 <= b.length ? Number(b.readBigUInt64BE(o)) : 0);
const ascii = (b: Buffer, o: number, n: number) => b.subarray(o, o + n).toString('latin1');

export function detectFormat(h: Buffer, total: number): Detected {
  if (ascii(h, 0, 4) === 'QFI\xfb') {
    const version = h.length >= 8 ? h.readUInt32BE(4) : 0;
    const backing = u64be(h, 8);
    const incompatible = version >= 3 ? u64be(h, 72) : 0;
    let unsafe: string | undefined;
    if (backing !== 0) unsafe = 'qcow2 image has a backing file';
    else if (incompatible & 0x4) unsafe = 'qcow2 image uses an external data file';
    return { format: 'qcow2', virtualSize: u64be(h, 24), unsafe };
  }
  if (ascii(h, 0, 8) === 'conectix') {
    // Dynamic VHD: a copy of the footer leads the file; current size at footer offset 48.
    return { format: 'vhd', virtualSize: u64be(h, 48) };
  }
  if (ascii(h, 0, 8) === 'vhdxfile') return { format: 'vhdx', virtualSize: null };
  if (ascii(h, 0, 4) === 'KDMV') {
    const capacity = u64le(h, 12);
    const descOffset = u64le(h, 28), descSize = u64le(h, 36);
    const desc = ascii(h, descOffset * 512, descSize * 512).replace(/\0+$/, '');
    const m = /createType\s*=\s*"([^"]*)"/.exec(desc);
    let unsafe: string | undefined;
    if (!m || !['monolithicSparse', 'streamOptimized'].includes(m[1])) unsafe = `unsupported VMDK create type ${m?.[1] ?? '(none)'}`;
    const extents = desc.split('\n').filter((l) => /^\s*(RW|RDONLY|NOACCESS)\s/.test(l));
    if (extents.length > 1) unsafe = 'VMDK descriptor references more than one extent';
    return { format: 'vmdk', virtualSize: capacity * 512, unsafe };
  }
  if (h.length >= 0x44 && h.readUInt32LE(0x40) === 0xbeda107f) return { format: 'vdi', virtualSize: u64le(h, 0x170) };
  if (ascii(h, 32769, 5) === 'CD001') {
    const blocks = u32le(h, 32768 + 80);
    const blockSize = h.length >= 32768 + 130 ? h.readUInt16LE(32768 + 128) : 2048;
    return { format: 'iso', virtualSize: blocks * blockSize };
  }
  return { format: 'raw', virtualSize: total };
}
