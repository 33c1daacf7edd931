// What the image service offers the other services in-process (Nova boots from images and
// snapshots into them; Cinder will create volumes from them and upload volumes to them).
import type { Readable } from 'node:stream';
import type { AuthContext } from '../core/auth.ts';
import type { Image } from './db.ts';

/**
 * An image as the other services see it: the stored image without Glance's own bookkeeping
 * (store location, staging node, hidden/deleted flags); every additional (user or base) property,
 * e.g. vmware_ostype, image_type, instance_uuid, in `properties`.
 */
export type ImageRecord = Omit<Image, 'osHidden' | 'location' | 'node' | 'deleted' | 'properties'> & { properties: Record<string, string> };

export interface ImageApi {
  /** The image if `auth` may see it (null auth: no visibility check, for internal use); else null. */
  get(imageId: string, auth: AuthContext | null): Promise<ImageRecord | null>;
  /** Streams the stored bytes of an active image. */
  open(imageId: string): Promise<Readable>;
  /** Creates a queued image owned by the caller's project, e.g. a server snapshot (Nova's createImage). */
  create(auth: AuthContext, fields: {
    name: string; visibility?: ImageRecord['visibility']; diskFormat?: string; containerFormat?: string;
    minDisk?: number; minRam?: number; protected?: boolean; properties?: Record<string, string>;
  }): Promise<ImageRecord>;
  /** Stores the bytes of a queued image (size, checksum, os_hash computed) and makes it active. */
  upload(imageId: string, data: Readable, formats?: { diskFormat?: string; containerFormat?: string }): Promise<ImageRecord>;
  /** Deletes an image and its data (e.g. a snapshot whose upload failed). Idempotent. */
  delete(imageId: string): Promise<void>;
  /**
   * The images `auth` may see, one page of Glance's GET /v2/images: `query` holds its parameters
   * (filters such as name, status, updated_at=gte:..., min_ram, any additional property; limit,
   * marker, sort). Bad parameters are Glance's 400s (ApiError).
   */
  list(auth: AuthContext, query: Record<string, string>): Promise<{ images: ImageRecord[]; nextMarker?: string }>;
  /**
   * Changes additional properties as `auth`, with Glance's checks (404 if it cannot see the image,
   * 403 if it may not modify it or a name is read-only/reserved, 413 over the property quota).
   * `purge`: every property not in `set` is removed (Nova's purge_props). Absent removals are no-ops.
   */
  updateProperties(imageId: string, auth: AuthContext, change: { set?: Record<string, string>; remove?: string[]; purge?: boolean }): Promise<ImageRecord>;
  /** Deletes an image as `auth` by Glance's rules: 404 if it cannot see it, 403 if it may not delete it (or it is protected). */
  deleteAs(imageId: string, auth: AuthContext): Promise<void>;
}
