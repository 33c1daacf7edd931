// Glance's tables: images (soft-deleted: a deleted image keeps its row so its id is never reused),
// their additional properties, tags and members, and the import tasks shown by
// GET /v2/images/{id}/tasks.
import type { Migration } from '../core/db/migrate.ts';
import type { Queryable } from '../core/db/index.ts';
import { bool } from '../core/db/index.ts';

export const migrations: Migration[] = [{
  id: 'image-001-images',
  sql: `CREATE TABLE images (
    id TEXT PRIMARY KEY,
    name TEXT,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    owner TEXT,
    disk_format TEXT,
    container_format TEXT,
    size BIGINT,
    virtual_size BIGINT,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    min_disk INTEGER NOT NULL DEFAULT 0,
    min_ram INTEGER NOT NULL DEFAULT 0,
    protected INTEGER NOT NULL DEFAULT 0,
    os_hidden INTEGER NOT NULL DEFAULT 0,
    location TEXT,
    node TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    deleted_at TEXT
  );
  CREATE INDEX images_owner_idx ON images (owner);
  CREATE INDEX images_created_idx ON images (deleted, created_at);
  CREATE TABLE image_properties (
    image_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (image_id, name)
  );
  CREATE INDEX image_properties_name_idx ON image_properties (name, value);
  CREATE TABLE image_tags (
    image_id TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, value)
  );
  CREATE INDEX image_tags_value_idx ON image_tags (value);
  CREATE TABLE image_members (
    image_id TEXT NOT NULL,
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
  );
  CREATE INDEX image_members_member_idx ON image_members (member, status);
  CREATE TABLE image_tasks (
    id TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT,
    user_id TEXT,
    request_id TEXT,
    input TEXT,
    result TEXT,
    message TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT
  );
  CREATE INDEX image_tasks_image_idx ON image_tasks (image_id);
  CREATE TABLE image_meta (
    key TEXT PRIMARY KEY,
    value TEXT
  )`,
}];

/** An image as stored (plus its properties and tags). */
export interface Image {
  id: string;
  name: string | null;
  status: string;
  visibility: 'public' | 'private' | 'shared' | 'community';
  owner: string | null;
  diskFormat: string | null;
  containerFormat: string | null;
  size: number | null;
  virtualSize: number | null;
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  minDisk: number;
  minRam: number;
  protected: boolean;
  osHidden: boolean;
  location: string | null;
  node: string | null;
  createdAt: string;
  updatedAt: string;
  deleted: boolean;
  properties: Record<string, string | null>;
  tags: string[];
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function rowToImage(r: any, properties: Record<string, string | null> = {}, tags: string[] = []): Image {
  return {
    id: r.id, name: r.name ?? null, status: r.status, visibility: r.visibility, owner: r.owner ?? null,
    diskFormat: r.disk_format ?? null, containerFormat: r.container_format ?? null,
    size: num(r.size), virtualSize: num(r.virtual_size), checksum: r.checksum ?? null,
    osHashAlgo: r.os_hash_algo ?? null, osHashValue: r.os_hash_value ?? null,
    minDisk: Number(r.min_disk), minRam: Number(r.min_ram), protected: bool(r.protected), osHidden: bool(r.os_hidden),
    location: r.location ?? null, node: r.node ?? null, createdAt: r.created_at, updatedAt: r.updated_at,
    deleted: bool(r.deleted), properties, tags,
  };
}

/** Loads properties and tags for a set of images in two queries. */
export async function hydrate(q: Queryable, rows: any[]): Promise<Image[]> {
  if (!rows.length) return [];
  const ids = rows.map((r) => r.id);
  const marks = ids.map(() => '?').join(',');
  const props = await q.all<{ image_id: string; name: string; value: string | null }>(
    `SELECT image_id, name, value FROM image_properties WHERE image_id IN (${marks})`, ids);
  const tags = await q.all<{ image_id: string; value: string }>(
    `SELECT image_id, value FROM image_tags WHERE image_id IN (${marks}) ORDER BY value`, ids);
  const p = new Map<string, Record<string, string | null>>(), t = new Map<string, string[]>();
  for (const x of props) { if (!p.has(x.image_id)) p.set(x.image_id, {}); p.get(x.image_id)![x.name] = x.value; }
  for (const x of tags) { if (!t.has(x.image_id)) t.set(x.image_id, []); t.get(x.image_id)!.push(x.value); }
  return rows.map((r) => rowToImage(r, p.get(r.id) ?? {}, t.get(r.id) ?? []));
}

export async function loadImage(q: Queryable, id: string, forUpdate = ''): Promise<Image | null> {
  const row = await q.get(`SELECT * FROM images WHERE id = ?${forUpdate}`, [id]);
  if (!row) return null;
  return (await hydrate(q, [row]))[0];
}

/** Writes every column of `img` and replaces its properties and tags (caller holds the transaction). */
export async function saveImage(q: Queryable, img: Image): Promise<void> {
  await q.run(
    `UPDATE images SET name = ?, status = ?, visibility = ?, owner = ?, disk_format = ?, container_format = ?,
       size = ?, virtual_size = ?, checksum = ?, os_hash_algo = ?, os_hash_value = ?, min_disk = ?, min_ram = ?,
       protected = ?, os_hidden = ?, location = ?, node = ?, updated_at = ?
     WHERE id = ?`,
    [img.name, img.status, img.visibility, img.owner, img.diskFormat, img.containerFormat, img.size, img.virtualSize,
      img.checksum, img.osHashAlgo, img.osHashValue, img.minDisk, img.minRam, img.protected ? 1 : 0, img.osHidden ? 1 : 0,
      img.location, img.node, img.updatedAt, img.id]);
  await q.run('DELETE FROM image_properties WHERE image_id = ?', [img.id]);
  for (const [k, v] of Object.entries(img.properties)) {
    await q.run('INSERT INTO image_properties (image_id, name, value) VALUES (?, ?, ?)', [img.id, k, v]);
  }
  await q.run('DELETE FROM image_tags WHERE image_id = ?', [img.id]);
  for (const t of new Set(img.tags)) await q.run('INSERT INTO image_tags (image_id, value) VALUES (?, ?)', [img.id, t]);
}

export async function insertImage(q: Queryable, img: Image): Promise<void> {
  await q.run(
    `INSERT INTO images (id, name, status, visibility, owner, disk_format, container_format, size, virtual_size,
       checksum, os_hash_algo, os_hash_value, min_disk, min_ram, protected, os_hidden, location, node,
       created_at, updated_at, deleted)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
    [img.id, img.name, img.status, img.visibility, img.owner, img.diskFormat, img.containerFormat, img.size,
      img.virtualSize, img.checksum, img.osHashAlgo, img.osHashValue, img.minDisk, img.minRam,
      img.protected ? 1 : 0, img.osHidden ? 1 : 0, img.location, img.node, img.createdAt, img.updatedAt]);
  for (const [k, v] of Object.entries(img.properties)) {
    await q.run('INSERT INTO image_properties (image_id, name, value) VALUES (?, ?, ?)', [img.id, k, v]);
  }
  for (const t of new Set(img.tags)) await q.run('INSERT INTO image_tags (image_id, value) VALUES (?, ?)', [img.id, t]);
}

export interface Member {
  imageId: string;
  memberId: string;
  status: string;
  createdAt: string;
  updatedAt: string;
}

export const rowToMember = (r: any): Member => ({
  imageId: r.image_id, memberId: r.member, status: r.status, createdAt: r.created_at, updatedAt: r.updated_at,
});
