// The image service itself: Glance's controllers, domain rules and repository in one place, used
// by the HTTP routes (with the caller's token) and by other services in-process (ImageApi).
// Every operation validates first and then writes in one transaction; status changes are
// conditional on the status read (Glance's save(from_state=...)), so racing requests cannot both
// win. Image data goes through a Store; a failed upload puts the image back to queued.
import type { Readable } from 'node:stream';
import type { AuthContext } from '../core/auth.ts';
import { policyCredentials } from '../core/auth.ts';
import { ApiError } from '../core/errors.ts';
import { isUniqueViolation, toJson, fromJson } from '../core/db/index.ts';
import { uuid, nowIso } from '../core/ids.ts';
import type { Context } from '../core/service.ts';
import type { ImageApi, ImageRecord } from './api.ts';
import { type Image, type Member, hydrate, insertImage, loadImage, rowToMember, saveImage } from './db.ts';
import { badRequest, conflict, forbidden, glanceError, notFound, tooLarge } from './errors.ts';
import { FormatInspector, InvalidImageData } from './inspect.ts';
import { type Change, RESERVED, RESERVED_NAMESPACE, parsePatch } from './patch.ts';
import { validateImage } from './schema.ts';
import { ImageSizeLimitExceeded, type StagingArea, type Store, StoreNotFound } from './store.ts';

export interface Caller {
  /** null: the cloud itself (in-process calls without a user), which sees and may do everything. */
  auth: AuthContext | null;
  requestId?: string;
}

export const SYSTEM: Caller = { auth: null };

export interface GlanceOptions {
  /** image_size_cap: largest image accepted, in bytes (Glance's default: 1 TiB). */
  sizeCap: number;
  limitParamDefault: number;
  apiLimitMax: number;
  propertyQuota: number;
  tagQuota: number;
  memberQuota: number;
  importMethods: string[];
}

export const DEFAULT_OPTIONS: GlanceOptions = {
  sizeCap: 1024 ** 4,
  limitParamDefault: 25,
  apiLimitMax: 1000,
  propertyQuota: 128,
  tagQuota: 128,
  memberQuota: 128,
  importMethods: ['glance-direct'],
};

/** Attributes the API sets directly; every other key of an image is an additional property. */
const BASE_ATTRS = ['name', 'visibility', 'protected', 'os_hidden', 'min_disk', 'min_ram', 'owner', 'disk_format', 'container_format', 'tags'];
const CREATE_BASE = ['checksum', 'created_at', 'container_format', 'disk_format', 'id', 'min_disk', 'min_ram', 'name',
  'size', 'virtual_size', 'status', 'tags', 'owner', 'updated_at', 'visibility', 'protected', 'os_hidden'];
const CREATE_READONLY = ['created_at', 'updated_at', 'status', 'checksum', 'os_hash_algo', 'os_hash_value', 'size', 'virtual_size'];
const DISALLOWED = ['direct_url', 'self', 'file', 'schema', 'stores'];
/** Internal properties Glance never shows. */
const HIDDEN_PROPERTIES = new Set(['os_glance_stage_host', 'os_glance_hash_op_host']);
const MAX_DB_INT = 2 ** 31 - 1;

/** Glance's timeutils.isotime: second precision, "Z". */
export const isotime = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

/** 413 before reading a declared-too-large body: close the connection rather than drain gigabytes. */
const tooBigToRead = () =>
  glanceError(413, 'The incoming image is too large: The provided image is too large.', undefined, { Connection: 'close' });

const transitionError = (from: string, to: string) =>
  conflict(`Image status transition from ${from} to ${to} is not allowed`);

export class ImageService {
  private ctx: Context;
  readonly store: Store;
  readonly staging: StagingArea;
  readonly opts: GlanceOptions;

  constructor(ctx: Context, store: Store, staging: StagingArea, opts: Partial<GlanceOptions> = {}) {
    this.ctx = ctx;
    this.store = store;
    this.staging = staging;
    this.opts = { ...DEFAULT_OPTIONS, ...opts };
  }

  // --- authorization ------------------------------------------------------------------------

  isAdmin(c: Caller): boolean {
    return !c.auth || this.ctx.policy.check('context_is_admin', policyCredentials(c.auth));
  }

  private project(c: Caller): string | null { return c.auth?.projectId ?? null; }

  /** Glance's ImageTarget: the image's attributes and properties, project_id = owner, member_id = caller when a member. */
  target(img: Image, c: Caller): Record<string, unknown> {
    const p = this.project(c);
    return {
      ...img.properties,
      id: img.id, name: img.name, status: img.status, visibility: img.visibility, owner: img.owner,
      project_id: img.owner, protected: img.protected, disk_format: img.diskFormat, container_format: img.containerFormat,
      member_id: img.visibility === 'shared' && p !== img.owner ? p : undefined,
    };
  }

  check(rule: string, c: Caller, target: Record<string, unknown>): boolean {
    if (!c.auth) return true;
    return this.ctx.policy.check(rule, policyCredentials(c.auth), target);
  }

  /**
   * ImageAPIPolicy._enforce: a denied check is a 403 for images the caller can see and a 404 for
   * the others, so that their existence does not leak.
   */
  enforce(rule: string, c: Caller, img: Image, message?: string) {
    const target = this.target(img, c);
    if (this.check(rule, c, target)) return;
    if (rule === 'get_image' || !this.check('get_image', c, target)) throw notFound();
    throw forbidden(message ?? `You are not authorized to complete ${rule} action.`);
  }

  /** Policy for a proposed image (create): no existence to hide, always 403. */
  private enforceNew(rule: string, c: Caller, target: Record<string, unknown>, message?: string) {
    if (!this.check(rule, c, target)) throw forbidden(message ?? `You are not authorized to complete ${rule} action.`);
  }

  private enforceVisibility(c: Caller, visibility: unknown, target: Record<string, unknown>, existing?: Image) {
    const rule = visibility === 'public' ? 'publicize_image' : visibility === 'community' ? 'communitize_image' : null;
    if (!rule) return;
    if (existing) this.enforce(rule, c, existing);
    else this.enforceNew(rule, c, target);
  }

  /** db.utils.is_image_visible. */
  async visible(img: Image, c: Caller): Promise<boolean> {
    if (this.isAdmin(c) || img.owner === null) return true;
    if (img.visibility === 'public' || img.visibility === 'community') return true;
    const p = this.project(c);
    if (p === null) return false;
    if (p === img.owner) return true;
    if (img.visibility !== 'shared') return false;
    return !!(await this.ctx.db.get('SELECT 1 AS x FROM image_members WHERE image_id = ? AND member = ?', [img.id, p]));
  }

  /** The image if it exists, is not deleted and the caller may see it; Glance's 404 otherwise. */
  async find(c: Caller, id: string, message?: string): Promise<Image> {
    const msg = message ?? `No image found with ID ${id}`;
    if (id.length > 36) throw notFound(msg);
    const img = await loadImage(this.ctx.db, id);
    if (!img || img.deleted || !(await this.visible(img, c))) throw notFound(msg);
    this.enforce('get_image', c, img);
    return img;
  }

  // --- views -----------------------------------------------------------------------------------

  view(img: Image): Record<string, unknown> {
    const v: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(img.properties)) if (!HIDDEN_PROPERTIES.has(k)) v[k] = val;
    Object.assign(v, {
      name: img.name, disk_format: img.diskFormat, container_format: img.containerFormat, visibility: img.visibility,
      size: img.size, virtual_size: img.virtualSize, status: img.status, checksum: img.checksum,
      protected: img.protected, min_ram: img.minRam, min_disk: img.minDisk, owner: img.owner, os_hidden: img.osHidden,
      os_hash_algo: img.osHashAlgo, os_hash_value: img.osHashValue, id: img.id,
      created_at: isotime(img.createdAt), updated_at: isotime(img.updatedAt), tags: [...img.tags],
      self: `/v2/images/${img.id}`, file: `/v2/images/${img.id}/file`, schema: '/v2/schemas/image',
    });
    return v;
  }

  memberView(m: Member) {
    return {
      member_id: m.memberId, image_id: m.imageId, status: m.status,
      created_at: isotime(m.createdAt), updated_at: isotime(m.updatedAt), schema: '/v2/schemas/member',
    };
  }

  record(img: Image): ImageRecord {
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(img.properties)) if (v !== null && !HIDDEN_PROPERTIES.has(k)) properties[k] = v;
    return {
      id: img.id, name: img.name, status: img.status, visibility: img.visibility, owner: img.owner,
      diskFormat: img.diskFormat, containerFormat: img.containerFormat, size: img.size, virtualSize: img.virtualSize,
      checksum: img.checksum, osHashAlgo: img.osHashAlgo, osHashValue: img.osHashValue, minDisk: img.minDisk,
      minRam: img.minRam, protected: img.protected, tags: [...img.tags], properties,
      createdAt: isotime(img.createdAt), updatedAt: isotime(img.updatedAt),
    };
  }

  // --- create --------------------------------------------------------------------------------

  /** POST /v2/images (RequestDeserializer.create + ImagesController.create). */
  async create(c: Caller, body: unknown): Promise<Image> {
    if (body === undefined) throw badRequest('Body expected in request.');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest(`Provided object does not match schema 'image': ${Array.isArray(body) ? '[...]' : String(body)} is not of type 'object'`);
    }
    const props: Record<string, unknown> = { ...(body as Record<string, unknown>) };
    for (const k of DISALLOWED) if (k in props) throw forbidden(`Attribute '${k}' is read-only.`);
    const err = validateImage(props);
    if (err) throw badRequest(err);
    const tags = (props.tags as string[] | undefined) ?? [];
    delete props.tags;
    const base: Record<string, any> = {};
    for (const k of CREATE_BASE) if (k in props && k !== 'tags') { base[k] = props[k]; delete props[k]; }
    for (const k of Object.keys(props)) {
      if (k.length > 255) throw badRequest('Custom property should not be greater than 255 characters.');
      if (RESERVED.includes(k) || k.startsWith(RESERVED_NAMESPACE)) throw forbidden(`Attribute '${k}' is reserved.`);
    }
    for (const k of CREATE_READONLY) if (k in base) throw forbidden(`Attribute '${k}' is read-only.`);
    if ('locations' in props) throw forbidden("Attribute 'locations' is reserved.");
    const owner: string | null = 'owner' in base ? base.owner : this.project(c);
    const target = { project_id: owner, owner, visibility: base.visibility ?? 'private' };
    if (c.auth && !this.check('add_image', c, target)) {
      if (owner !== this.project(c)) throw forbidden(`You are not permitted to create images owned by '${owner}'`);
      throw forbidden('You are not authorized to complete add_image action.');
    }
    this.enforceVisibility(c, target.visibility, target);
    for (const k of ['min_disk', 'min_ram'] as const) {
      const v = base[k];
      if (v !== undefined && v < 0) throw badRequest(`Invalid value '${v}' for parameter '${k}': Cannot be a negative value.`);
      if (v !== undefined && v > MAX_DB_INT) throw badRequest(`'${k}' value out of range, must not exceed ${MAX_DB_INT}.`);
    }
    const properties = props as Record<string, string | null>;
    this.checkQuotas(Object.keys(properties).length, new Set(tags).size);
    const now = nowIso();
    const img: Image = {
      id: base.id ?? uuid(), name: base.name ?? null, status: 'queued', visibility: base.visibility ?? 'shared',
      owner, diskFormat: base.disk_format ?? null, containerFormat: base.container_format ?? null,
      size: null, virtualSize: null, checksum: null, osHashAlgo: null, osHashValue: null,
      minDisk: base.min_disk ?? 0, minRam: base.min_ram ?? 0, protected: base.protected ?? false, osHidden: base.os_hidden ?? false,
      location: null, node: null, createdAt: now, updatedAt: now, deleted: false, properties, tags: [...new Set(tags)],
    };
    try {
      await this.ctx.db.tx((t) => insertImage(t, img));
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`Image with identifier ${img.id} already exists!`);
      throw e;
    }
    return img;
  }

  private checkQuotas(properties: number, tags: number) {
    if (properties > this.opts.propertyQuota) {
      throw tooLarge(`The limit has been exceeded on the number of allowed image properties. Attempted: ${properties}, Maximum: ${this.opts.propertyQuota}`);
    }
    if (tags > this.opts.tagQuota) {
      throw tooLarge(`The limit has been exceeded on the number of allowed image tags. Attempted: ${tags}, Maximum: ${this.opts.tagQuota}`);
    }
  }

  // --- list ----------------------------------------------------------------------------------

  /** GET /v2/images. `query` holds the raw query parameters (arrays for repeated ones). */
  async list(c: Caller, query: Record<string, string | string[]>): Promise<{ images: Image[]; nextMarker?: string }> {
    const params = new Map<string, string[]>();
    for (const [k, v] of Object.entries(query)) params.set(k, Array.isArray(v) ? v.map(String) : [String(v)]);
    const one = (k: string) => { const v = params.get(k); params.delete(k); return v ? v[v.length - 1] : undefined; };
    const many = (k: string) => { const v = params.get(k) ?? []; params.delete(k); return v; };

    const limitRaw = one('limit');
    const marker = one('marker');
    const memberStatus = one('member_status') ?? 'accepted';
    const tags = many('tag').map((t) => t.trim());
    if (!['pending', 'accepted', 'rejected', 'all'].includes(memberStatus)) throw badRequest(`Invalid status: ${memberStatus}`);
    const visibility = one('visibility');
    if (visibility !== undefined && visibility !== '' && !['community', 'public', 'private', 'shared', 'all'].includes(visibility)) {
      throw badRequest(`Invalid visibility value: ${visibility}`);
    }
    if (params.has('changes-since')) throw badRequest('The "changes-since" filter is no longer available on v2.');
    let limit = this.opts.limitParamDefault;
    if (limitRaw !== undefined) {
      if (!/^\s*[-+]?\d+\s*$/.test(limitRaw)) throw badRequest('limit param must be an integer');
      limit = Number(limitRaw);
      if (limit < 0) throw badRequest('limit param must be positive');
    }
    limit = Math.min(this.opts.apiLimitMax, limit);

    // Sorting: sort=k1:dir,k2 or the classic sort_key/sort_dir pairs.
    const SORT_KEYS = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'];
    const sortKey = (k: string) => {
      if (!SORT_KEYS.includes(k)) throw badRequest(`Invalid sort key: ${k}. It must be one of the following: ${SORT_KEYS.join(', ')}.`);
      return k;
    };
    const sortDir = (d: string) => { if (d !== 'asc' && d !== 'desc') throw badRequest(`Invalid sort direction: ${d}`); return d; };
    let keys: string[] = [], dirs: string[] = [];
    if (params.has('sort')) {
      if (params.has('sort_key') || params.has('sort_dir')) throw badRequest('Old and new sorting syntax cannot be combined');
      for (const part of one('sort')!.trim().split(',')) {
        const i = part.indexOf(':');
        const k = i < 0 ? part : part.slice(0, i), d = i < 0 ? '' : part.slice(i + 1);
        keys.push(sortKey(k.trim()));
        dirs.push(sortDir((d || 'desc').trim()));
      }
    } else {
      keys = many('sort_key').map((k) => sortKey(k.trim()));
      dirs = many('sort_dir').map((d) => sortDir(d.trim()));
      if (dirs.length > 1 && dirs.length !== keys.length) throw badRequest('Number of sort dirs does not match the number of sort keys');
    }
    if (!keys.length) keys = ['created_at'];
    let defaultDir = 'desc';
    if (!dirs.length) dirs = keys.map(() => 'desc');
    else if (dirs.length === 1) { defaultDir = dirs[0]; dirs = keys.map(() => defaultDir); }
    for (const k of ['created_at', 'id']) if (!keys.includes(k)) { keys.push(k); dirs.push(defaultDir); }

    const where: string[] = ['i.deleted = 0', "i.status <> 'killed'"];
    const args: (string | number)[] = [];
    const p = this.project(c);
    if (!this.isAdmin(c)) {
      const memberCond = memberStatus === 'all' ? '' : ' AND m.status = ?';
      where.push(`(i.visibility IN ('public', 'community')${p !== null ? ` OR i.owner = ? OR (i.visibility = 'shared' AND EXISTS (
        SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = ?${memberCond}))` : ''})`);
      if (p !== null) { args.push(p, p); if (memberStatus !== 'all') args.push(memberStatus); }
    }
    if (visibility && visibility !== 'all') { where.push('i.visibility = ?'); args.push(visibility); }
    else if (!visibility) {
      if (p === null) where.push("i.visibility <> 'community'");
      else { where.push("(i.owner = ? OR i.visibility <> 'community')"); args.push(p); }
    }
    const osHidden = (one('os_hidden') ?? 'false').toLowerCase();
    if (osHidden !== 'true' && osHidden !== 'false') {
      throw badRequest(`Invalid value '${osHidden}' for 'os_hidden' filter. Valid values are 'true' or 'false'.`);
    }
    where.push('i.os_hidden = ?'); args.push(osHidden === 'true' ? 1 : 0);
    const prot = one('protected');
    if (prot !== undefined) {
      if (prot !== 'true' && prot !== 'false') throw badRequest(`Invalid value '${prot}' for 'protected' filter. Valid values are 'true' or 'false'.`);
      where.push('i.protected = ?'); args.push(prot === 'true' ? 1 : 0);
    }
    for (const t of tags) { where.push('EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id AND t.value = ?)'); args.push(t); }

    const NUMERIC = ['size', 'virtual_size', 'min_disk', 'min_ram'];
    for (const [k, vs] of [...params]) {
      const v = vs[vs.length - 1];
      params.delete(k);
      const range = /^(size|virtual_size)_(min|max)$/.exec(k);
      if (range) {
        if (!/^\s*[-+]?\d+\s*$/.test(v)) throw badRequest('Unable to filter on a range with a non-numeric value.');
        where.push(`i.${range[1]} ${range[2] === 'min' ? '>=' : '<='} ?`); args.push(Number(v));
      } else if (k === 'created_at' || k === 'updated_at') {
        const [op, value] = splitFilterOp(v);
        const ms = parseIsoTime(value);
        if (ms === null) throw badRequest(`Bad "${k}" query filter format. Use ISO 8601 DateTime notation.`);
        const SQL_OPS: Record<string, string> = { gt: '>', gte: '>=', lt: '<', lte: '<=', neq: '<>', eq: '=' };
        if (!SQL_OPS[op]) throw badRequest('Unable to filter on a unknown operator.');
        where.push(`i.${k} ${SQL_OPS[op]} ?`); args.push(new Date(ms).toISOString());
      } else if (['name', 'id', 'status', 'container_format', 'disk_format'].includes(k)) {
        const [op, value] = splitFilterOp(v);
        if (op === 'in') {
          const vals = splitFilterValues(value);
          where.push(vals.length ? `i.${k} IN (${vals.map(() => '?').join(',')})` : '1 = 0'); args.push(...vals);
        } else if (op === 'eq') { where.push(`i.${k} = ?`); args.push(value); }
        else throw badRequest(`Unable to filter by unknown operator '${op}'.`);
      } else if (NUMERIC.includes(k)) {
        if (/^\s*[-+]?\d+\s*$/.test(v)) { where.push(`i.${k} = ?`); args.push(Number(v)); }
        else where.push('1 = 0'); // a number column never equals a non-number
      } else if (['owner', 'checksum', 'os_hash_value', 'os_hash_algo'].includes(k)) {
        where.push(`i.${k} = ?`); args.push(v);
      } else {
        // Any other parameter filters on an additional property, as in Glance.
        where.push('EXISTS (SELECT 1 FROM image_properties pr WHERE pr.image_id = i.id AND pr.name = ? AND pr.value = ?)');
        args.push(k, v);
      }
    }

    const policyTarget = { project_id: p };
    if (c.auth && !this.check('get_images', c, policyTarget)) throw forbidden('You are not authorized to complete get_images action.');

    const col = (k: string) => (['size'].includes(k) ? `COALESCE(i.${k}, 0)` : `COALESCE(i.${k}, '')`);
    if (marker !== undefined) {
      const m = marker.length <= 36 ? await loadImage(this.ctx.db, marker) : null;
      if (!m || m.deleted) throw badRequest(`No image found with ID ${marker}`);
      if (!(await this.visible(m, c))) throw forbidden(`Forbidding request, image ${marker} not visible`);
      const mv = (k: string): string | number => {
        const raw: Record<string, unknown> = { name: m.name, status: m.status, container_format: m.containerFormat,
          disk_format: m.diskFormat, size: m.size, id: m.id, created_at: m.createdAt, updated_at: m.updatedAt };
        return (raw[k] ?? (k === 'size' ? 0 : '')) as string | number;
      };
      const ors: string[] = [];
      for (let i = 0; i < keys.length; i++) {
        const ands: string[] = [];
        for (let j = 0; j < i; j++) { ands.push(`${col(keys[j])} = ?`); args.push(mv(keys[j])); }
        ands.push(`${col(keys[i])} ${dirs[i] === 'desc' ? '<' : '>'} ?`); args.push(mv(keys[i]));
        ors.push(`(${ands.join(' AND ')})`);
      }
      where.push(`(${ors.join(' OR ')})`);
    }
    const order = keys.map((k, i) => `${col(k)} ${dirs[i] === 'desc' ? 'DESC' : 'ASC'}`).join(', ');
    const rows = await this.ctx.db.all(`SELECT i.* FROM images i WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ?`, [...args, limit]);
    const images = await hydrate(this.ctx.db, rows);
    const visible = images.filter((img) => this.check('get_image', c, this.target(img, c)));
    return { images: visible, nextMarker: visible.length && rows.length === limit ? visible[visible.length - 1].id : undefined };
  }

  // --- update ----------------------------------------------------------------------------------

  /**
   * PATCH /v2/images/{id}: applies parsed changes to a copy, then saves it in one transaction.
   * `changes` may be computed from the locked image (e.g. "remove every other property").
   */
  async update(c: Caller, id: string, changes: Change[] | ((img: Image) => Change[])): Promise<Image> {
    await this.find(c, id);
    return this.ctx.db.tx(async (t) => {
      await t.lock(`image:${id}`);
      const img = await loadImage(t, id, t.forUpdate);
      if (!img || img.deleted) throw notFound(`No image found with ID ${id}`);
      const next: Image = { ...img, properties: { ...img.properties }, tags: [...img.tags] };
      if (typeof changes === 'function') changes = changes(img);
      for (const ch of changes) this.applyChange(c, img, next, ch);
      if (!changes.length) return img;
      this.checkQuotas(Object.keys(next.properties).length, new Set(next.tags).size);
      next.updatedAt = nowIso();
      await saveImage(t, next);
      return next;
    });
  }

  private applyChange(c: Caller, current: Image, img: Image, ch: Change) {
    const root = ch.path[0];
    if (root === 'locations') {
      this.enforce(ch.op === 'remove' ? 'delete_image_location' : 'set_image_location', c, current);
      const verb = ch.op === 'add' ? 'add' : ch.op === 'remove' ? 'remove' : 'update';
      throw forbidden(`It's not allowed to ${verb} locations if locations are invisible.`);
    }
    if (ch.op === 'replace' && root === 'owner' && !this.isAdmin(c)) throw forbidden("Owner can't be updated by non admin.");
    if (root === 'visibility' && ch.op !== 'remove') this.enforceVisibility(c, ch.value, {}, current);
    this.enforce('modify_image', c, current);
    const isBase = BASE_ATTRS.includes(root);
    if (ch.op === 'remove') {
      if (isBase) throw forbidden(`Property ${root} may not be removed.`);
      if (!(root in img.properties)) throw conflict(`Property ${root} does not exist.`);
      delete img.properties[root];
      return;
    }
    if (ch.op === 'add' && ch.draft === 4 && (isBase || root in img.properties)) throw conflict(`Property ${root} already present.`);
    if (ch.op === 'replace' && !isBase && !(root in img.properties)) throw conflict(`Property ${root} does not exist.`);
    if (!isBase) {
      if (root.length > 255) throw badRequest('Custom property should not be greater than 255 characters.');
      img.properties[root] = ch.value as string | null;
      return;
    }
    const v = ch.value as any;
    switch (root) {
      case 'name': img.name = v; break;
      case 'visibility': img.visibility = v; break;
      case 'protected': img.protected = v; break;
      case 'os_hidden': img.osHidden = v; break;
      case 'owner': img.owner = v; break;
      case 'tags': img.tags = [...new Set(v as string[])]; break;
      case 'min_disk': case 'min_ram':
        if (v < 0) throw badRequest(`Invalid value '${v}' for parameter '${root}': Cannot be a negative value.`);
        if (v > MAX_DB_INT) throw badRequest(`'${root}' value out of range, must not exceed ${MAX_DB_INT}.`);
        if (root === 'min_disk') img.minDisk = v; else img.minRam = v;
        break;
      case 'disk_format': case 'container_format':
        if (!['queued', 'importing'].includes(img.status)) throw forbidden(`Attribute ${root} can be only replaced for a queued image.`);
        if (root === 'disk_format') img.diskFormat = v; else img.containerFormat = v;
        break;
    }
  }

  // --- tags ------------------------------------------------------------------------------------

  async addTag(c: Caller, id: string, tag: string): Promise<void> {
    if ([...tag].length > 255) throw badRequest(`Provided object does not match schema 'image': '${tag}' is too long`);
    const img = await this.find(c, id, `Image ${id} not found.`);
    this.enforce('modify_image', c, img, `Not allowed to update tags for image ${id}.`);
    await this.ctx.db.tx(async (t) => {
      await t.lock(`image:${id}`);
      const n = await t.get<{ n: number }>('SELECT COUNT(*) AS n FROM image_tags WHERE image_id = ? AND value <> ?', [id, tag]);
      if (Number(n?.n) + 1 > this.opts.tagQuota) {
        throw tooLarge(`Image tag limit exceeded for image ${id}: The limit has been exceeded on the number of allowed image tags. Attempted: ${Number(n?.n) + 1}, Maximum: ${this.opts.tagQuota}:`);
      }
      const live = await t.get('SELECT 1 AS x FROM images WHERE id = ? AND deleted = 0', [id]);
      if (!live) throw notFound(`Image ${id} not found.`);
      await t.run(t.dialect === 'postgres'
        ? 'INSERT INTO image_tags (image_id, value) VALUES (?, ?) ON CONFLICT DO NOTHING'
        : 'INSERT OR IGNORE INTO image_tags (image_id, value) VALUES (?, ?)', [id, tag]);
      await t.run('UPDATE images SET updated_at = ? WHERE id = ?', [nowIso(), id]);
    });
  }

  async deleteTag(c: Caller, id: string, tag: string): Promise<void> {
    const img = await this.find(c, id, `Image ${id} not found.`);
    this.enforce('modify_image', c, img, `Not allowed to delete tags for image ${id}.`);
    await this.ctx.db.tx(async (t) => {
      const r = await t.run('DELETE FROM image_tags WHERE image_id = ? AND value = ?', [id, tag]);
      if (!r.changes) throw notFound();
      await t.run('UPDATE images SET updated_at = ? WHERE id = ?', [nowIso(), id]);
    });
  }

  // --- actions ---------------------------------------------------------------------------------

  async deactivate(c: Caller, id: string): Promise<void> {
    const img = await this.find(c, id);
    this.enforce('deactivate', c, img);
    if (img.status === 'deactivated') return;
    if (img.status !== 'active') throw forbidden(`Not allowed to deactivate image in status '${img.status}'`);
    await this.transition(id, 'active', 'deactivated');
  }

  async reactivate(c: Caller, id: string): Promise<void> {
    const img = await this.find(c, id);
    this.enforce('reactivate', c, img);
    if (img.status === 'active') return;
    if (img.status !== 'deactivated') throw forbidden(`Not allowed to reactivate image in status '${img.status}'`);
    await this.transition(id, 'deactivated', 'active');
  }

  /** A conditional status change; 409 if the image moved on meanwhile. */
  private async transition(id: string, from: string, to: string, extra: Record<string, string | number | null> = {}): Promise<void> {
    const sets = Object.keys(extra).map((k) => `, ${k} = ?`).join('');
    const r = await this.ctx.db.run(`UPDATE images SET status = ?, updated_at = ?${sets} WHERE id = ? AND status = ? AND deleted = 0`,
      [to, nowIso(), ...Object.values(extra), id, from]);
    if (!r.changes) {
      const now = await loadImage(this.ctx.db, id);
      if (!now || now.deleted) throw notFound(`No image found with ID ${id}`);
      throw transitionError(now.status, to);
    }
  }

  // --- delete ----------------------------------------------------------------------------------

  async deleteImage(c: Caller, id: string): Promise<void> {
    const img = await this.find(c, id);
    this.enforce('delete_image', c, img);
    if (img.protected) throw forbidden(`Image ${id} is protected and cannot be deleted.`);
    const location = await this.ctx.db.tx(async (t) => {
      await t.lock(`image:${id}`);
      const cur = await loadImage(t, id, t.forUpdate);
      if (!cur || cur.deleted) throw notFound(`Failed to find image ${id} to delete`);
      if (cur.protected) throw forbidden(`Image ${id} is protected and cannot be deleted.`);
      const now = nowIso();
      await t.run("UPDATE images SET status = 'deleted', deleted = 1, deleted_at = ?, updated_at = ?, location = NULL WHERE id = ?", [now, now, id]);
      await t.run('DELETE FROM image_properties WHERE image_id = ?', [id]);
      await t.run('DELETE FROM image_tags WHERE image_id = ?', [id]);
      await t.run('DELETE FROM image_members WHERE image_id = ?', [id]);
      return cur.location;
    });
    // The row no longer points at the data: removing it afterwards is safe, and a failure here
    // only leaves an orphan file, never an image without data.
    if (location) await this.store.delete(location).catch((e) => this.ctx.log.warn(`image ${id}: deleting data failed`, e));
    await this.staging.delete(id).catch(() => undefined);
  }

  // --- data ------------------------------------------------------------------------------------

  /**
   * PUT /v2/images/{id}/file: queued → saving → active. Any failure puts the image back to
   * queued and leaves no data behind (Glance's _restore).
   */
  async upload(c: Caller, id: string, data: Readable, o: { size?: number | null; diskFormat?: string; containerFormat?: string } = {}): Promise<Image> {
    const img = await this.find(c, id);
    if (c.auth) this.enforce('upload_image', c, img);
    await this.ctx.db.tx(async (t) => {
      await t.lock(`image:${id}`);
      const cur = await loadImage(t, id, t.forUpdate);
      if (!cur || cur.deleted) throw notFound(`No image found with ID ${id}`);
      if (cur.status !== 'queued') throw transitionError(cur.status, 'saving');
      if (o.diskFormat) cur.diskFormat = o.diskFormat;
      if (o.containerFormat) cur.containerFormat = o.containerFormat;
      const missing = (['disk_format', 'container_format'] as const).filter((k) => !(k === 'disk_format' ? cur.diskFormat : cur.containerFormat));
      if (missing.length) {
        throw badRequest(`${missing.length === 1 ? 'Property' : 'Properties'} ${missing.join(', ')} must be set prior to saving data.`);
      }
      cur.status = 'saving';
      cur.node = this.ctx.config.nodeId;
      cur.updatedAt = nowIso();
      await saveImage(t, cur);
    });
    const restore = () => this.ctx.db.run(
      "UPDATE images SET status = 'queued', size = NULL, virtual_size = NULL, node = NULL, updated_at = ? WHERE id = ? AND status = 'saving'",
      [nowIso(), id]);
    if (o.size != null && o.size > this.opts.sizeCap) {
      await restore();
      throw tooBigToRead();
    }
    const fresh = (await loadImage(this.ctx.db, id))!;
    const inspector = fresh.containerFormat === 'bare' ? new FormatInspector() : null;
    let stored;
    try {
      stored = await this.store.put(id, data, { sizeCap: this.opts.sizeCap, observe: inspector?.push });
    } catch (e) {
      await restore();
      if (e instanceof ImageSizeLimitExceeded) throw tooLarge(`The incoming image is too large: ${e.message}`);
      throw e;
    }
    let virtualSize: number | null = null;
    try {
      if (inspector) virtualSize = inspector.verdict(fresh.diskFormat!);
    } catch (e) {
      await this.store.delete(stored.location);
      await restore();
      if (e instanceof InvalidImageData) throw glanceError(415, undefined, e.message);
      throw e;
    }
    const done = await this.ctx.db.tx(async (t) => {
      await t.lock(`image:${id}`);
      const cur = await loadImage(t, id, t.forUpdate);
      if (!cur || cur.deleted || cur.status !== 'saving') return null;
      Object.assign(cur, {
        status: 'active', size: stored.size, virtualSize, checksum: stored.checksum, osHashAlgo: stored.osHashAlgo,
        osHashValue: stored.osHashValue, location: stored.location, node: null, updatedAt: nowIso(),
      });
      await saveImage(t, cur);
      return cur;
    });
    if (!done) {
      await this.store.delete(stored.location);
      throw glanceError(410, `Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`);
    }
    return done;
  }

  /** GET /v2/images/{id}/file: the checks; the caller streams with openData(). */
  async downloadable(c: Caller, id: string): Promise<Image> {
    const img = await this.find(c, id);
    if (img.status === 'deactivated' && !this.isAdmin(c)) {
      throw forbidden('The requested image has been deactivated. Image data download is forbidden.');
    }
    this.enforce('download_image', c, img);
    return img;
  }

  async openData(img: Image, range?: { start: number; end?: number }): Promise<Readable | null> {
    if (!img.location) return null;
    try {
      return await this.store.get(img.location, range);
    } catch (e) {
      if (e instanceof StoreNotFound) return null;
      throw e;
    }
  }

  /** PUT /v2/images/{id}/stage: queued → uploading, data kept in the staging area. */
  async stage(c: Caller, id: string, data: Readable, size?: number | null): Promise<void> {
    const img = await this.find(c, id);
    this.enforce('modify_image', c, img);
    await this.transition(id, 'queued', 'uploading', { node: this.ctx.config.nodeId });
    const unstage = async () => {
      await this.staging.delete(id);
      await this.ctx.db.run("UPDATE images SET status = 'queued', size = NULL, node = NULL, updated_at = ? WHERE id = ? AND status = 'uploading'", [nowIso(), id]);
    };
    if (size != null && size > this.opts.sizeCap) {
      await unstage();
      throw tooBigToRead();
    }
    let staged: number;
    try {
      staged = await this.staging.put(id, data, this.opts.sizeCap);
    } catch (e) {
      await unstage();
      if (e instanceof ImageSizeLimitExceeded) throw tooLarge(`The incoming image is too large: ${e.message}`);
      throw e;
    }
    const r = await this.ctx.db.run("UPDATE images SET size = ?, updated_at = ? WHERE id = ? AND status = 'uploading' AND deleted = 0", [staged, nowIso(), id]);
    if (!r.changes) {
      await this.staging.delete(id);
      throw glanceError(410, `Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`);
    }
  }

  /** POST /v2/images/{id}/import. Validates, records the import task and lets a worker run it. */
  async startImport(c: Caller, id: string, body: unknown): Promise<void> {
    if (body === undefined) throw badRequest('Body expected in request.');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest("Import request requires a 'method' field.");
    const b = body as Record<string, any>;
    if (!('method' in b)) throw badRequest("Import request requires a 'method' field.");
    const method = b.method;
    if (method === null || typeof method !== 'object' || Array.isArray(method) || !('name' in method)) {
      throw badRequest("Import request requires a 'name' field.");
    }
    if (!this.opts.importMethods.includes(method.name)) throw badRequest(`Unknown import method name '${method.name}'.`);
    const mustSucceed = b.all_stores_must_succeed ?? true;
    if (typeof mustSucceed !== 'boolean') throw badRequest("'all_stores_must_succeed' must be boolean value only");
    if (typeof (b.all_stores ?? false) !== 'boolean') throw badRequest("'all_stores' must be boolean value only");
    const img = await this.find(c, id);
    if (img.status === 'active') throw conflict('Image with status active cannot be target for import');
    if (img.status !== 'uploading') throw conflict("Image needs to be staged before 'glance-direct' method can be used");
    if (!img.containerFormat) throw conflict("'container_format' needs to be set before import");
    if (!img.diskFormat) throw conflict("'disk_format' needs to be set before import");
    this.enforce('modify_image', c, img);
    if (!mustSucceed) throw badRequest('All_stores_must_succeed can only be set with enabled_backends None');
    const taskId = uuid();
    await this.ctx.db.tx(async (t) => {
      const r = await t.run("UPDATE images SET status = 'importing', updated_at = ? WHERE id = ? AND status = 'uploading' AND deleted = 0", [nowIso(), id]);
      if (!r.changes) throw conflict(`New operation on image '${id}' is not permitted as prior operation is still in progress`);
      const now = nowIso();
      await t.run(
        `INSERT INTO image_tasks (id, image_id, type, status, owner, user_id, request_id, input, result, message, created_at, updated_at)
         VALUES (?, ?, 'api_image_import', 'pending', ?, ?, ?, ?, NULL, '', ?, ?)`,
        [taskId, id, this.project(c), c.auth?.userId ?? null, c.requestId ?? null,
          toJson({ image_id: id, import_req: b, backend: [null] }), now, now]);
      await this.ctx.tasks.enqueue(t, 'image.import', { imageId: id, taskId }, { resourceId: `image:${id}`, maxAttempts: 3 });
    });
  }

  /** The durable worker of an import: staged data → store → active (idempotent). */
  async runImport(imageId: string, taskId: string): Promise<void> {
    const img = await loadImage(this.ctx.db, imageId);
    if (!img || img.deleted) {
      await this.finishTask(taskId, 'failure', 'Image was deleted during import');
      await this.staging.delete(imageId);
      return;
    }
    if (img.status !== 'importing') return; // already finished by an earlier run
    await this.ctx.db.run("UPDATE image_tasks SET status = 'processing', updated_at = ? WHERE id = ? AND status = 'pending'", [nowIso(), taskId]);
    if (!(await this.staging.exists(imageId))) throw new ImportFailed('Staged image data not found');
    const inspector = img.containerFormat === 'bare' ? new FormatInspector() : null;
    let stored;
    try {
      stored = await this.store.put(imageId, this.staging.open(imageId), { sizeCap: this.opts.sizeCap, observe: inspector?.push });
    } catch (e) {
      if (e instanceof ImageSizeLimitExceeded) throw new ImportFailed(e.message);
      throw e;
    }
    let virtualSize: number | null = null;
    try {
      if (inspector) virtualSize = inspector.verdict(img.diskFormat!);
    } catch (e) {
      await this.store.delete(stored.location);
      if (e instanceof InvalidImageData) throw new ImportFailed(e.message);
      throw e;
    }
    const ok = await this.ctx.db.tx(async (t) => {
      const cur = await loadImage(t, imageId, t.forUpdate);
      if (!cur || cur.deleted || cur.status !== 'importing') return false;
      Object.assign(cur, {
        status: 'active', size: stored.size, virtualSize, checksum: stored.checksum, osHashAlgo: stored.osHashAlgo,
        osHashValue: stored.osHashValue, location: stored.location, node: null, updatedAt: nowIso(),
      });
      await saveImage(t, cur);
      await t.run("UPDATE image_tasks SET status = 'success', result = ?, updated_at = ? WHERE id = ?",
        [toJson({ image_id: imageId }), nowIso(), taskId]);
      return true;
    });
    if (!ok) await this.store.delete(stored.location);
    await this.staging.delete(imageId);
  }

  /** An import that gave up: back to queued, staged data dropped, the task marked failed. */
  async failImport(imageId: string, taskId: string, message: string): Promise<void> {
    await this.ctx.db.run("UPDATE images SET status = 'queued', size = NULL, virtual_size = NULL, node = NULL, updated_at = ? WHERE id = ? AND status = 'importing'",
      [nowIso(), imageId]);
    await this.staging.delete(imageId);
    await this.finishTask(taskId, 'failure', message);
  }

  private async finishTask(taskId: string, status: string, message: string) {
    await this.ctx.db.run('UPDATE image_tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?', [status, message, nowIso(), taskId]);
  }

  async tasks(c: Caller, id: string): Promise<unknown[]> {
    let img: Image;
    try { img = await this.find(c, id); } catch (e) { if (e instanceof ApiError) throw notFound(); throw e; }
    const rows = await this.ctx.db.all('SELECT * FROM image_tasks WHERE image_id = ? ORDER BY created_at', [img.id]);
    const admin = this.isAdmin(c);
    return rows.filter((r: any) => admin || r.owner === this.project(c)).map((r: any) => ({
      id: r.id, type: r.type, status: r.status, owner: r.owner, expires_at: r.expires_at,
      created_at: r.created_at, updated_at: r.updated_at, deleted_at: null, deleted: false,
      image_id: r.image_id, request_id: r.request_id, user_id: r.user_id,
      input: fromJson(r.input, null), result: fromJson(r.result, null), message: r.message,
    }));
  }

  /**
   * After a restart: uploads and stagings this node was doing died with it. Put those images back
   * to queued so the upload can be retried (Glance v2 allows saving → queued for that reason).
   */
  async recover(): Promise<void> {
    const node = this.ctx.config.nodeId;
    await this.ctx.db.run("UPDATE images SET status = 'queued', size = NULL, virtual_size = NULL, node = NULL, updated_at = ? WHERE status = 'saving' AND node = ? AND deleted = 0",
      [nowIso(), node]);
    const staged = await this.ctx.db.all<{ id: string }>("SELECT id FROM images WHERE status = 'uploading' AND node = ? AND deleted = 0", [node]);
    for (const { id } of staged) {
      if (!(await this.staging.exists(id))) {
        await this.ctx.db.run("UPDATE images SET status = 'queued', size = NULL, node = NULL, updated_at = ? WHERE id = ? AND status = 'uploading'", [nowIso(), id]);
      }
    }
  }

  // --- members ---------------------------------------------------------------------------------

  private async memberImage(c: Caller, id: string): Promise<Image> {
    const img = await this.find(c, id, `Image ${id} not found.`).catch((e) => {
      if (e instanceof ApiError && e.status === 404) throw notFound(`Image ${id} not found.`);
      throw e;
    });
    return img;
  }

  /** Member rows the caller may see (glance db _image_member_find): owner or the member itself. */
  private async findMembers(c: Caller, imageId: string, memberId?: string): Promise<Member[]> {
    const conds = ['mb.image_id = ?'];
    const args: string[] = [imageId];
    if (memberId !== undefined) { conds.push('mb.member = ?'); args.push(memberId); }
    if (!this.isAdmin(c)) {
      const p = this.project(c) ?? '';
      conds.push('(i.owner = ? OR mb.member = ?)');
      args.push(p, p);
    }
    const rows = await this.ctx.db.all(
      `SELECT mb.* FROM image_members mb JOIN images i ON i.id = mb.image_id WHERE ${conds.join(' AND ')} ORDER BY mb.created_at, mb.member`, args);
    return rows.map(rowToMember);
  }

  async addMember(c: Caller, id: string, body: unknown): Promise<Member> {
    if (body === undefined) throw badRequest('Body expected in request.');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Expected a member in the form: {"member": "image_id"}');
    if (!('member' in body)) throw badRequest('Member to be added not specified');
    const memberId = (body as any).member;
    if (!memberId) throw badRequest("Member can't be empty");
    if (typeof memberId !== 'string') throw badRequest('Expected a member in the form: {"member": "image_id"}');
    if (memberId.length > 255) throw badRequest('Member id is too long: at most 255 characters.');
    const img = await this.memberImage(c, id);
    const notAllowed = `Not allowed to create members for image ${id}.`;
    if (img.visibility !== 'shared') throw forbidden(notAllowed);
    this.enforce('add_member', c, img, notAllowed);
    const now = nowIso();
    return this.ctx.db.tx(async (t) => {
      await t.lock(`image:${id}`);
      const exists = await t.get('SELECT 1 AS x FROM image_members WHERE image_id = ? AND member = ?', [id, memberId]);
      if (exists) throw conflict(`Member ${memberId} is duplicated for image ${id}`);
      const n = Number((await t.get<{ n: number }>('SELECT COUNT(*) AS n FROM image_members WHERE image_id = ?', [id]))?.n ?? 0);
      if (n + 1 > this.opts.memberQuota) {
        throw tooLarge(`Image member limit exceeded for image ${id}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${n + 1}, Maximum: ${this.opts.memberQuota}:`);
      }
      await t.run("INSERT INTO image_members (image_id, member, status, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)", [id, memberId, now, now]);
      return { imageId: id, memberId, status: 'pending', createdAt: now, updatedAt: now };
    });
  }

  async listMembers(c: Caller, id: string): Promise<Member[]> {
    const img = await this.memberImage(c, id);
    if (img.visibility !== 'shared') throw forbidden(`Not allowed to list members for image ${id}: Only shared images have members.`);
    this.enforce('get_members', c, img, `Not allowed to list members for image ${id}: You are not authorized to complete get_members action.`);
    return this.findMembers(c, id);
  }

  async showMember(c: Caller, id: string, memberId: string): Promise<Member> {
    const img = await this.memberImage(c, id);
    // Glance turns every refusal here into a 404, to not reveal memberships.
    if (img.visibility !== 'shared') throw notFound('Only shared images have members.');
    if (!this.check('get_member', c, this.target(img, c))) throw notFound(`You are not authorized to lookup the members of the image ${id}.`);
    const [m] = await this.findMembers(c, id, memberId);
    if (!m) throw notFound(`${memberId} not found in the member list of the image ${id}.`);
    return m;
  }

  async updateMember(c: Caller, id: string, memberId: string, body: unknown): Promise<Member> {
    if (body === undefined) throw badRequest('Body expected in request.');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Expected a status in the form: {"status": "status"}');
    if (!('status' in body)) throw badRequest('Status not specified');
    const status = (body as any).status;
    const img = await this.memberImage(c, id);
    const notAllowed = `Not allowed to update members for image ${id}.`;
    if (img.visibility !== 'shared') throw forbidden(notAllowed);
    if (!this.check('get_member', c, this.target(img, c))) throw forbidden(notAllowed);
    const [m] = await this.findMembers(c, id, memberId);
    if (!m) throw notFound(`${memberId} not found in the member list of the image ${id}.`);
    this.enforce('modify_member', c, img, notAllowed);
    if (!['pending', 'accepted', 'rejected'].includes(status)) {
      throw badRequest('Incorrect request: Status must be "pending", "accepted" or "rejected".');
    }
    const now = nowIso();
    const r = await this.ctx.db.run('UPDATE image_members SET status = ?, updated_at = ? WHERE image_id = ? AND member = ?', [status, now, id, memberId]);
    if (!r.changes) throw notFound(`${memberId} not found in the member list of the image ${id}.`);
    return { ...m, status, updatedAt: now };
  }

  async deleteMember(c: Caller, id: string, memberId: string): Promise<void> {
    const img = await this.memberImage(c, id);
    const notAllowed = `Not allowed to delete members for image ${id}.`;
    if (img.visibility !== 'shared') throw forbidden(notAllowed);
    if (!this.check('get_member', c, this.target(img, c))) throw forbidden(notAllowed);
    const [m] = await this.findMembers(c, id, memberId);
    if (!m) throw notFound(`${memberId} not found in the member list of the image ${id}.`);
    this.enforce('delete_member', c, img, notAllowed);
    await this.ctx.db.run('DELETE FROM image_members WHERE image_id = ? AND member = ?', [id, memberId]);
  }

  // --- ImageApi (in-process, for Nova and later Cinder) ------------------------------------------

  async get(imageId: string, auth: AuthContext | null): Promise<ImageRecord | null> {
    const c: Caller = { auth };
    try {
      return this.record(await this.find(c, imageId));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }

  async open(imageId: string): Promise<Readable> {
    const img = await this.find(SYSTEM, imageId);
    if (img.status !== 'active' && img.status !== 'deactivated') throw conflict(`Image ${imageId} has no data to read (status ${img.status}).`);
    const s = await this.openData(img);
    if (!s) throw conflict(`Image ${imageId} has no data.`);
    return s;
  }

  async createImage(auth: AuthContext, fields: Parameters<ImageApi['create']>[1]): Promise<ImageRecord> {
    const body: Record<string, unknown> = { ...(fields.properties ?? {}), name: fields.name };
    if (fields.visibility) body.visibility = fields.visibility;
    if (fields.diskFormat) body.disk_format = fields.diskFormat;
    if (fields.containerFormat) body.container_format = fields.containerFormat;
    if (fields.minDisk !== undefined) body.min_disk = fields.minDisk;
    if (fields.minRam !== undefined) body.min_ram = fields.minRam;
    if (fields.protected !== undefined) body.protected = fields.protected;
    return this.record(await this.create({ auth }, body));
  }

  async uploadData(imageId: string, data: Readable, formats?: { diskFormat?: string; containerFormat?: string }): Promise<ImageRecord> {
    return this.record(await this.upload(SYSTEM, imageId, data, formats ?? {}));
  }

  /** GET /v2/images as `auth` (query = Glance's query parameters), as records. */
  async listRecords(auth: AuthContext, query: Record<string, string>): Promise<{ images: ImageRecord[]; nextMarker?: string }> {
    const r = await this.list({ auth }, query);
    return { images: r.images.map((i) => this.record(i)), nextMarker: r.nextMarker };
  }

  /**
   * Additional properties set and removed as `auth`, by Glance's PATCH rules (names checked as a
   * patch's are: read-only and reserved ones are refused). Removing an absent property is a no-op
   * so that a retry is harmless; `purge` removes every property not in `set` (Nova's purge_props),
   * decided on the locked row so a concurrent change cannot slip between read and write.
   */
  async updateProperties(auth: AuthContext, id: string, change: Parameters<ImageApi['updateProperties']>[2]): Promise<ImageRecord> {
    const set = change.set ?? {};
    const pointer = (k: string) => `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    const sets = parsePatch(Object.entries(set).map(([k, value]) => ({ op: 'add', path: pointer(k), value })), 10);
    // Named removals are checked like a patch's (reserved names refused); purged ones skip what users cannot remove.
    const named = parsePatch((change.remove ?? []).map((k) => ({ op: 'remove', path: pointer(k) })), 10).map((ch) => ch.path[0]);
    const img = await this.update({ auth }, id, (cur) => {
      const remove = new Set(named);
      if (change.purge) {
        for (const k of Object.keys(cur.properties)) if (!HIDDEN_PROPERTIES.has(k) && !k.startsWith(RESERVED_NAMESPACE)) remove.add(k);
      }
      const removes: Change[] = [...remove]
        .filter((k) => Object.hasOwn(cur.properties, k) && !Object.hasOwn(set, k))
        .map((k) => ({ op: 'remove', path: [k], draft: 10 }));
      return [...sets, ...removes];
    });
    return this.record(img);
  }

  async remove(imageId: string): Promise<void> {
    try {
      await this.deleteImage(SYSTEM, imageId);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return; // already gone: deletes are idempotent
      throw e;
    }
  }
}

/** An import failure that retrying cannot fix. */
export class ImportFailed extends Error {}

/** glance.common.utils.split_filter_op: "op:value", or "eq" when there is no operator (or an ISO time). */
export function splitFilterOp(expr: string): [string, string] {
  const i = expr.indexOf(':');
  if (i < 0) return ['eq', expr];
  if (parseIsoTime(expr) !== null) return ['eq', expr];
  return [expr.slice(0, i), expr.slice(i + 1)];
}

/** Values of an "in:" filter: comma separated, double quotes protect commas. */
export function splitFilterValues(value: string): string[] {
  const out: string[] = [];
  const re = /"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value)) !== null) {
    if (m[0] === '') { re.lastIndex++; continue; }
    out.push(m[1] ?? m[2] ?? '');
  }
  return out;
}

/** ISO 8601 date-time (oslo parse_isotime); null when not one. */
export function parseIsoTime(s: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(s.trim())) return null;
  const t = Date.parse(/[Zz]|[+-]\d{2}:?\d{2}$/.test(s) || s.length <= 10 ? s : `${s}Z`);
  return Number.isNaN(t) ? null : t;
}
