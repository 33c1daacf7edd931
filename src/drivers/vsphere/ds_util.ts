// Datastore files and virtual disks, as Nova's ds_util and Cinder's VMDK volumeops use them:
// paths are "[datastore] folder/file", folders are made with FileManager, disks are made,
// copied, moved and deleted with VirtualDiskManager, bytes move over the /folder HTTP access.
// Every operation is idempotent: making what exists or deleting what is gone succeeds.
import type { Readable } from 'node:stream';
import { isFault } from './vim/client.ts';
import type { Inventory } from './inventory.ts';
import type { FileInfo, HostDatastoreBrowserSearchResults, MoRef } from './vim/types.ts';
import { asArray } from './vim/xml.ts';
import { get } from './vim/props.ts';

export type DiskType = 'thin' | 'thick' | 'eagerZeroedThick' | 'preallocated';
export type DiskAdapter = 'lsiLogic' | 'busLogic' | 'lsiLogicsas' | 'paraVirtual' | 'ide';

/** "[ds] a/b.vmdk" */
export const dsPath = (datastore: string, path: string) => `[${datastore}] ${path}`;

export function parseDsPath(p: string): { datastore: string; path: string } {
  const m = /^\[([^\]]+)\]\s*(.*)$/.exec(p);
  if (!m) throw new Error(`Invalid datastore path '${p}'`);
  return { datastore: m[1]!, path: m[2]! };
}

export class Datastores {
  private readonly inv: Inventory;
  constructor(inv: Inventory) { this.inv = inv; }

  private get client() { return this.inv.client; }
  private get dc(): MoRef { return this.inv.datacenter.ref; }

  /** FileManager.MakeDirectory with parents; an existing folder is fine. */
  async mkdir(datastore: string, folder: string): Promise<void> {
    try {
      await this.client.call('MakeDirectory', this.client.content.fileManager!, { name: dsPath(datastore, folder), datacenter: this.dc, createParentDirectories: true });
    } catch (e) {
      if (!isFault(e, 'FileAlreadyExists')) throw e;
    }
  }

  /** Deletes a file or folder (recursively); a missing one is fine. */
  async deleteFile(path: string): Promise<void> {
    try {
      await this.client.runTask('DeleteDatastoreFile_Task', this.client.content.fileManager!, { name: path, datacenter: this.dc });
    } catch (e) {
      if (!isFault(e, 'FileNotFound')) throw e;
    }
  }

  /** VirtualDiskManager.CreateVirtualDisk_Task; FileAlreadyExists when it exists (callers decide). */
  async createDisk(path: string, capacityKb: number, diskType: DiskType, adapterType: DiskAdapter): Promise<void> {
    await this.client.runTask('CreateVirtualDisk_Task', this.client.content.virtualDiskManager!, {
      name: path, datacenter: this.dc,
      spec: { _type: 'FileBackedVirtualDiskSpec', diskType, adapterType: adapterType === 'paraVirtual' ? 'lsiLogic' : adapterType, capacityKb },
    });
  }

  /** Copies a disk (descriptor and extents); the destination must not exist. */
  async copyDisk(source: string, dest: string): Promise<void> {
    await this.client.runTask('CopyVirtualDisk_Task', this.client.content.virtualDiskManager!, {
      sourceName: source, sourceDatacenter: this.dc, destName: dest, destDatacenter: this.dc, force: false,
    });
  }

  async moveDisk(source: string, dest: string): Promise<void> {
    await this.client.runTask('MoveVirtualDisk_Task', this.client.content.virtualDiskManager!, {
      sourceName: source, sourceDatacenter: this.dc, destName: dest, destDatacenter: this.dc, force: false,
    });
  }

  /** Deletes a disk with its extents; a missing disk is fine. */
  async deleteDisk(path: string): Promise<void> {
    try {
      await this.client.runTask('DeleteVirtualDisk_Task', this.client.content.virtualDiskManager!, { name: path, datacenter: this.dc });
    } catch (e) {
      if (!isFault(e, 'FileNotFound')) throw e;
    }
  }

  /** The files of one folder ("[ds] folder"), with sizes; [] when the folder does not exist. */
  async list(datastore: string, folder: string, pattern = '*'): Promise<FileInfo[]> {
    const ds = this.inv.datastoreByName(datastore);
    if (!ds) return [];
    const browser = (await get<{ browser: MoRef }>(this.client, ds.ref, ['browser']))?.browser;
    if (!browser) return [];
    try {
      const res = await this.client.runTask<HostDatastoreBrowserSearchResults>('SearchDatastore_Task', browser, {
        datastorePath: dsPath(datastore, folder),
        searchSpec: { details: { fileType: true, fileSize: true, modification: true, fileOwner: false }, matchPattern: [pattern] },
      });
      return asArray(res?.file);
    } catch (e) {
      if (isFault(e, 'FileNotFound')) return [];
      throw e;
    }
  }

  /** Whether "[ds] folder/name" exists. */
  async exists(path: string): Promise<boolean> {
    const { datastore, path: p } = parseDsPath(path);
    const slash = p.lastIndexOf('/');
    const folder = slash < 0 ? '' : p.slice(0, slash);
    const name = p.slice(slash + 1);
    return (await this.list(datastore, folder, name)).some((f) => f.path === name);
  }

  upload(path: string, data: Readable | Buffer, size?: number): Promise<void> {
    const { datastore, path: p } = parseDsPath(path);
    return this.client.upload(this.inv.datacenter.name, datastore, p, data, size);
  }

  download(path: string): Promise<{ stream: Readable; size?: number }> {
    const { datastore, path: p } = parseDsPath(path);
    return this.client.download(this.inv.datacenter.name, datastore, p);
  }
}
