// block_device_mapping(_v2) of POST /servers, checked as Nova's compute API does before anything is
// written (nova/block_device.py, compute/api.py _validate_bdm): sources and destinations, boot
// order, sizes, and that named volumes and images exist and are usable. The result is written as
// block_device_mappings rows in the create transaction; the build task then creates, connects and
// attaches the volumes (bdm.ts).
import type { FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import type { Queryable } from '../../core/db/index.ts';
import { badRequest } from '../../core/errors.ts';
import { isUuid, uuid as newUuid } from '../../core/ids.ts';
import { isAdmin, parseBoolean } from '../common.ts';
import { insertBdm, nextDeviceName } from './bdm.ts';

export interface PlannedVolume {
  sourceType: 'image' | 'volume' | 'snapshot' | 'blank';
  imageId: string | null;
  snapshotId: string | null;
  volumeId: string | null;
  volumeSize: number | null;
  volumeType: string | null;
  bootIndex: number | null;
  deleteOnTermination: boolean;
  tag: string | null;
  deviceName: string | null;
}

const invalid = (m: string) => badRequest(`Block Device Mapping is Invalid: ${m}`);

function bootIndexOf(v: unknown): number | null {
  if (v === undefined || v === null || v === 'None' || v === 'none') return null;
  const n = typeof v === 'number' ? v : Number(String(v));
  if (!Number.isInteger(n)) throw invalid(`Boot index ${String(v)} is invalid.`);
  return n < 0 ? null : n;
}

function sizeOf(v: unknown): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = typeof v === 'number' ? v : Number(String(v));
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** The legacy (v1) mapping as a v2 one: a volume or a snapshot to a volume; the root device boots. */
function fromLegacy(b: any, hasImage: boolean, first: boolean): any {
  const root = /^(\/dev\/)?(s|v|xv|h)da$/.test(String(b.device_name ?? ''));
  return {
    source_type: b.snapshot_id ? 'snapshot' : 'volume', destination_type: 'volume',
    uuid: b.snapshot_id ?? b.volume_id, volume_size: b.volume_size, delete_on_termination: b.delete_on_termination,
    device_name: b.device_name, boot_index: !hasImage && (root || (first && !b.device_name)) ? 0 : null,
  };
}

export async function planBlockDevices(ctx: Context, req: FastifyRequest, s: Record<string, any>, maxCount: number, target: Record<string, unknown>)
  : Promise<{ imageRef: string | null; volumes: PlannedVolume[]; raw: unknown[] }> {
  const legacy: any[] = s.block_device_mapping ?? [];
  const v2: any[] = s.block_device_mapping_v2 ?? [];
  if (legacy.length && v2.length) throw badRequest('Using different block_device_mapping syntaxes is not allowed in the same request.');
  if (!legacy.length && !v2.length) return { imageRef: null, volumes: [], raw: [] };
  ctx.policy.authorize('os_compute_api:servers:create:attach_volume', req.auth!, target);
  const entries = legacy.length ? legacy.map((b, k) => fromLegacy(b, !!s.imageRef, k === 0)) : v2;
  let imageRef: string | null = null;
  const volumes: PlannedVolume[] = [];
  const bootIndexes: number[] = [];
  const api = ctx.services.volume;
  for (const b of entries) {
    const source = b.source_type ?? (b.volume_id ? 'volume' : b.snapshot_id ? 'snapshot' : b.image_id ? 'image' : 'blank');
    const dest = b.destination_type ?? (source === 'image' || source === 'blank' ? 'local' : 'volume');
    const bootIndex = bootIndexOf(b.boot_index);
    if (bootIndex !== null) bootIndexes.push(bootIndex);
    if (source === 'image' && dest === 'local') {
      const id = b.uuid ?? b.image_id;
      if (!id) throw invalid('missing image uuid.');
      if (!isUuid(id)) throw invalid(`${id} is not a valid image id.`);
      if ((s.imageRef && s.imageRef !== id) || (imageRef && imageRef !== id)) {
        throw invalid('Boot sequence for the instance and image/block device mapping combination is not valid.');
      }
      imageRef = id;
      continue;
    }
    if (source === 'blank' && dest === 'local') continue; // ephemeral or swap: the flavor's disks
    if (dest !== 'volume') throw invalid(`Mapping image/block device mapping combination source_type ${source} to destination_type ${dest} is not valid.`);
    if (!api) throw invalid('volumes are not available in this cloud (no volume service).');
    const id: string | undefined = b.uuid ?? b.volume_id ?? b.snapshot_id ?? b.image_id;
    const size = sizeOf(b.volume_size);
    const p: PlannedVolume = {
      sourceType: source, imageId: null, snapshotId: null, volumeId: null, volumeSize: size,
      volumeType: b.volume_type ?? null, bootIndex,
      deleteOnTermination: b.delete_on_termination !== undefined && b.delete_on_termination !== null ? parseBoolean(b.delete_on_termination, 'delete_on_termination') : false,
      tag: b.tag ?? null, deviceName: b.device_name ?? null,
    };
    if (source === 'volume') {
      if (!id || !isUuid(id)) throw invalid(`failed to get volume ${id ?? ''}.`);
      if (maxCount > 1) throw badRequest('Cannot attach one or more volumes to multiple instances');
      const v = await api.get(id);
      if (!v || (v.projectId !== req.auth!.projectId && !isAdmin(ctx, req))) throw invalid(`failed to get volume ${id}.`);
      // The root disk must be a volume Cinder calls bootable (made from an image, or set so).
      if (bootIndex === 0 && !v.bootable) throw badRequest(`Block Device ${id} is not bootable.`);
      if (v.status !== 'available' && !(v.multiattach && v.status === 'in-use')) {
        throw badRequest(`Invalid volume: volume '${id}' status must be 'available'. Currently in '${v.status}'`);
      }
      p.volumeId = v.id;
      p.volumeSize = v.sizeGb;
    } else if (source === 'snapshot') {
      if (!id || !isUuid(id)) throw invalid(`failed to get snapshot ${id ?? ''}.`);
      p.snapshotId = id;
    } else if (source === 'image') {
      if (!id || !isUuid(id)) throw invalid(`failed to get image ${id ?? ''}.`);
      const img = ctx.services.image ? await ctx.services.image.get(id, req.auth!) : null;
      if (!img) throw invalid(`failed to get image ${id}.`);
      if (img.status !== 'active') throw badRequest(`Image ${id} is not active.`);
      if (size === null) throw invalid("Images with destination_type 'volume' need to have a non-zero size specified");
      p.imageId = id;
    } else {
      if (size === null) throw invalid("Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size");
    }
    volumes.push(p);
  }
  // Boot indexes must be 0, 1, 2 ... without gaps or repeats.
  const sorted = [...bootIndexes].sort((x, y) => x - y);
  if (sorted.some((x, k) => x !== k)) {
    throw invalid('Boot sequence for the instance and image/block device mapping combination is not valid.');
  }
  return { imageRef, volumes, raw: entries };
}

/** The planned volumes of one instance as block_device_mappings rows (in the create transaction). */
export async function insertPlannedBdms(q: Queryable, instanceUuid: string, volumes: PlannedVolume[], flavor: { ephemeralGb: number; swapMb: number }) {
  const used: (string | null)[] = [];
  const volumeBacked = volumes.some((v) => v.bootIndex === 0);
  for (const v of volumes) {
    const device = v.bootIndex === 0 ? '/dev/sda' : (v.deviceName && !used.includes(v.deviceName) && v.deviceName !== '/dev/sda' ? v.deviceName : nextDeviceName(flavor, used, volumeBacked));
    used.push(device);
    await insertBdm(q, {
      instanceUuid, sourceType: v.sourceType, destinationType: 'volume', imageId: v.imageId, snapshotId: v.snapshotId,
      // A volume Nova makes gets its id now, so that a rerun of the build finds it instead of making another.
      volumeId: v.volumeId ?? newUuid(), volumeSize: v.volumeSize, volumeType: v.volumeType, deviceName: device,
      bootIndex: v.bootIndex, deleteOnTermination: v.deleteOnTermination, tag: v.tag,
      status: v.sourceType === 'volume' ? 'reserved' : 'creating',
    });
  }
}
