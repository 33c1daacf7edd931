// First-start image, like DevStack's cirros upload: a small public stream-optimized VMDK named
// vistack-tiny-x86_64, generated here (nothing is downloaded). Created once: the chosen id is
// recorded first, so a crash between create and upload is finished at the next start, and an
// image the operator deleted is not brought back.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { uuid } from '../core/ids.ts';
import type { Context } from '../core/service.ts';
import { loadImage } from './db.ts';
import type { ImageService } from './service.ts';
import { SYSTEM } from './service.ts';
import { streamOptimizedVmdk } from './vmdk.ts';

export const TINY_IMAGE_NAME = 'vistack-tiny-x86_64';
const MiB = 1 << 20;

/** The seed disk's first 1.5 MiB: an MBR with one Linux partition, then deterministic bytes. */
export function tinyDiskContents(): Buffer {
  const data = Buffer.alloc(MiB + MiB / 2);
  let block = createHash('sha256').update(TINY_IMAGE_NAME).digest();
  for (let off = 512; off < data.length; off += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(data, off);
  }
  const mbr = data.subarray(0, 512);
  mbr.write('VISTACK', 3, 'latin1');
  const p = mbr.subarray(446, 462); // first partition entry: bootable, type 0x83, from sector 2048
  p[0] = 0x80; p[4] = 0x83;
  p.writeUInt32LE(2048, 8);
  p.writeUInt32LE(2 * 1024 * 1024 - 2048, 12);
  mbr[510] = 0x55; mbr[511] = 0xaa;
  return data;
}

export function tinyVmdk(): Buffer {
  return streamOptimizedVmdk({ capacity: 1024 * MiB, data: tinyDiskContents(), fileName: `${TINY_IMAGE_NAME}.vmdk`, cid: '5eed0001' });
}

export async function seedImages(ctx: Context, svc: ImageService): Promise<void> {
  const db = ctx.db;
  await db.run(db.dialect === 'postgres'
    ? 'INSERT INTO image_meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING'
    : 'INSERT OR IGNORE INTO image_meta (key, value) VALUES (?, ?)', ['seed.tiny.id', uuid()]);
  const id = (await db.get<{ value: string }>("SELECT value FROM image_meta WHERE key = 'seed.tiny.id'"))!.value;
  let img = await loadImage(db, id);
  if (!img) {
    const owner = (await ctx.services.identity?.getProjectByName?.('admin'))?.id ?? null;
    img = await svc.create(SYSTEM, {
      id, name: TINY_IMAGE_NAME, visibility: 'public', disk_format: 'vmdk', container_format: 'bare', owner,
      min_disk: 0, min_ram: 0, architecture: 'x86_64',
      description: 'Tiny generated test disk (1 GiB stream-optimized VMDK with an MBR); boots only in the vSphere simulator.',
      vmware_disktype: 'streamOptimized', vmware_adaptertype: 'lsiLogic', vmware_ostype: 'otherLinux64Guest',
      hw_vif_model: 'VirtualVmxnet3',
    });
  }
  if (img.status === 'queued') {
    await svc.upload(SYSTEM, id, Readable.from([tinyVmdk()]));
    ctx.log.info(`image: seeded ${TINY_IMAGE_NAME} (${id})`);
  }
}
