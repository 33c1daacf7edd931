// What Cinder offers the other services in-process (Nova's attach and boot-from-volume flows,
// Heat later), in the spirit of nova/volume/cinder.py on the attachments API (3.27+): Nova never
// reaches into Cinder's tables. The block storage module sets ctx.services.volume in init().
// Errors are ApiErrors whose messages Nova can pass on.
import type { VolumeLocation } from '../core/virt.ts';

export interface VolumeAttachmentInfo {
  attachmentId: string;
  instanceId: string;
  device: string | null;
  attachedAt: string | null;
}

export interface VolumeInfo {
  id: string;
  projectId: string;
  name: string | null;
  /** Cinder's status: creating, available, reserved, attaching, in-use, detaching, error ... */
  status: string;
  sizeGb: number;
  availabilityZone: string;
  bootable: boolean;
  multiattach: boolean;
  volumeType: string | null;
  attachments: VolumeAttachmentInfo[];
  /** Where the VMDK is, once created. */
  location: VolumeLocation | null;
  // Optional, for Nova's os-volumes proxy.
  createdAt?: string;
  description?: string | null;
  metadata?: Record<string, string>;
  snapshotId?: string | null;
}

export interface SnapshotInfo {
  id: string;
  projectId: string;
  volumeId: string;
  status: string;
  sizeGb: number;
  name: string | null;
  description: string | null;
  createdAt: string;
}

/** What the compute driver needs to attach the disk (connection_info of driver_volume_type vmdk). */
export interface ConnectionInfo {
  driverVolumeType: 'vmdk';
  volumeId: string;
  datastore: string;
  path: string;
  sizeGb: number;
}

export interface VolumeCreateRequest {
  /**
   * The id to give the volume (Nova chooses it before asking, so that a rerun after a crash finds
   * the volume instead of making a second one): create is then idempotent per id.
   */
  id?: string;
  projectId: string;
  userId: string;
  sizeGb: number;
  name?: string | null;
  imageId?: string | null;
  snapshotId?: string | null;
  sourceVolumeId?: string | null;
  volumeType?: string | null;
  availabilityZone?: string | null;
  description?: string | null;
  metadata?: Record<string, string>;
}

export interface VolumeApi {
  get(volumeId: string): Promise<VolumeInfo | null>;
  /**
   * Reserves the volume for an instance (attachment create without connector): 404 if missing
   * or not `projectId`'s, 400 if not available (or in-use without multiattach). Idempotent per
   * (volume, instance): returns the existing attachment. `projectId` is the scope of the caller,
   * as Cinder checks the request context: null when it may use any project's volume (an admin,
   * or Nova carrying out a mapping its API already checked with the requester's credentials).
   */
  attachmentCreate(projectId: string | null, volumeId: string, instanceId: string): Promise<string>;
  /** Connector in, connection info out (status attaching). Idempotent. */
  attachmentUpdate(attachmentId: string, connector: { host: string; instance: string; mountpoint: string }): Promise<ConnectionInfo>;
  /** The disk is on the VM: status in-use, attach_status attached. Idempotent. */
  attachmentComplete(attachmentId: string): Promise<void>;
  /** Removes the attachment (available again when it was the last). Succeeds when already gone. */
  attachmentDelete(attachmentId: string): Promise<void>;
  /** Creates a volume as the API would (quota, then a durable create task); returns its id at once. */
  create(req: VolumeCreateRequest): Promise<string>;
  /** Deletes a volume (delete_on_termination); succeeds when already gone. */
  delete(volumeId: string): Promise<void>;

  // ---- optional: what Nova's deprecated os-volumes / os-snapshots proxies (below 2.36) need ----
  /** Volumes of a project (null: every project, for admins). */
  list?(projectId: string | null): Promise<VolumeInfo[]>;
  createSnapshot?(req: { projectId: string; userId: string; volumeId: string; name?: string | null; description?: string | null; force?: boolean }): Promise<string>;
  getSnapshot?(id: string): Promise<SnapshotInfo | null>;
  listSnapshots?(projectId: string | null): Promise<SnapshotInfo[]>;
  deleteSnapshot?(id: string): Promise<void>;
}
