// Cinder resources: OS::Cinder::Volume (waits for available; extend, retype, metadata and names
// in place), ::VolumeAttachment (through Nova's os-volume_attachments; waits for in-use, and on
// delete for available) and ::VolumeType.
import { heatError, validationFailed, type ResourceContext, type ResourcePlugin } from '../../types.ts';
import {
  attr, bool, call, compact, findImage, findProject, findServer, findSnapshot, findVolume, findVolumeType,
  ignoreNotFound, int, isNotFound, listOfStr, map, resolve, str,
} from './common.ts';

async function getVolume(r: ResourceContext, id = r.physicalId): Promise<any | null> {
  if (!id) return null;
  return (await r.client.find('volume', `/volumes/${id}`))?.volume ?? null;
}

const inError = (v: any) => heatError(400, 'ResourceInError', `Went to status ${v.status} due to "Unknown"`);

/** Waits for one of `want`; an error status fails the resource. */
async function volumeIs(r: ResourceContext, want: string[], id = r.physicalId): Promise<boolean> {
  const v = await getVolume(r, id);
  if (!v) throw heatError(400, 'ResourceUnknownStatus', `The Volume (${id}) could not be found.`);
  if (v.status === 'error' || v.status === 'error_extending' || v.status === 'error_restoring') throw inError(v);
  return want.includes(v.status);
}

const volumeName = (r: ResourceContext, p = r.properties) => (p.name as string | null) ?? r.physicalName();
const metaStrings = (m: Record<string, unknown> | null) =>
  Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));

export const volume: ResourcePlugin = {
  type: 'OS::Cinder::Volume',
  description: 'A Cinder volume: a block device servers can attach, empty (of a size) or made from a snapshot, backup, image or another volume. The create waits until it is available.',
  properties: {
    size: int('Size in GB; needed unless snapshot_id, source_volid or backup_id is given. On update it may only grow (the volume is extended).', { update_allowed: true, constraints: [{ range: { min: 1 } }] }),
    snapshot_id: str('Name or ID of a volume snapshot to make the volume from.', { constraint: 'cinder.snapshot' }),
    backup_id: str('ID of a backup to make the volume from. A change on update is accepted but does nothing here.', { update_allowed: true, constraint: 'cinder.backup' }),
    name: str("Volume name; without one the volume gets the resource's physical name.", { update_allowed: true }),
    description: str('Free text about the volume.', { update_allowed: true }),
    volume_type: str('Name or ID of the volume type (which decides the backend); a new type on update retypes the volume.', { update_allowed: true, constraint: 'cinder.vtype' }),
    metadata: map('Key/value metadata of the volume; values that are not strings are sent as JSON. On update the map replaces all of it.', { update_allowed: true, default: {} }),
    imageRef: str('Old name of image.', { support_status: { status: 'HIDDEN', version: '5.0.0', message: 'Use property image.' }, replaced_by: 'image' }),
    image: str('Name or ID of an image to write onto the new volume.', { constraint: 'glance.image' }),
    source_volid: str('Name or ID of a volume to copy.', { constraint: 'cinder.volume' }),
    consistencygroup_id: str('ID of a consistency group to put the volume in.'),
    scheduler_hints: map("Hints for Cinder's scheduler about where to place the volume."),
    availability_zone: str('Availability zone to make the volume in.'),
    read_only: bool('Whether the volume is attached read-only; set once the volume is available, and changeable on update.', { update_allowed: true }),
    multiattach: bool('Whether the volume may be attached to several servers at once.'),
  },
  attributes: {
    availability_zone: attr('Availability zone the volume is in.', 'string'),
    size: attr('Size in GB.', 'string'),
    snapshot_id: attr('ID of the snapshot the volume was made from, or null.', 'string'),
    display_name: attr('Volume name.', 'string'),
    display_description: attr('Volume description.', 'string'),
    volume_type: attr("The volume's type, by name.", 'string'),
    metadata: attr('Metadata of the volume, as a JSON string.', 'string'),
    metadata_values: attr('Metadata of the volume, as a map.', 'map'),
    source_volid: attr('ID of the volume this one was copied from, or null.', 'string'),
    status: attr('Current status, e.g. available or in-use.', 'string'),
    created_at: attr('When the volume was made.', 'string'),
    bootable: attr('Whether servers can boot from the volume.', 'string'),
    encrypted: attr('Whether the volume is encrypted.', 'string'),
    attachments: attr('Attachments of the volume, as a JSON string.', 'string'),
    attachments_list: attr('Attachments of the volume, as a list.', 'list'),
    multiattach: attr('Whether the volume may be attached to several servers at once.', 'boolean'),
    show: attr('The whole object, as the service shows it.', 'map'),
  },
  pollMs: 100,

  async validate(p) {
    if (p.size == null && !p.snapshot_id && !p.source_volid && !p.backup_id) {
      throw validationFailed('One of the properties "size", "snapshot_id", "source_volid" or "backup_id" should be specified.', 'StackValidationFailed');
    }
    // imageRef is still listed: both it and image given is a conflict, not a translation.
    const sources = ['snapshot_id', 'source_volid', 'backup_id', 'image', 'imageRef'].filter((k) => p[k]);
    if (sources.length > 1) throw validationFailed(`Cannot define the following properties at the same time: ${sources.join(', ')}.`, 'ResourcePropertyConflict');
  },

  async handleCreate(r) {
    const found = await volume.findInterrupted!(r);
    if (found) { await r.setPhysicalId(found); return; }
    const p = r.properties;
    const body = compact({
      size: p.size, name: volumeName(r), description: p.description, availability_zone: p.availability_zone,
      snapshot_id: p.snapshot_id ? (await resolve(findSnapshot, r.client, p.snapshot_id)).id : undefined,
      source_volid: p.source_volid ? (await resolve(findVolume, r.client, p.source_volid)).id : undefined,
      backup_id: p.backup_id, consistencygroup_id: p.consistencygroup_id,
      imageRef: p.image ? (await resolve(findImage, r.client, p.image)).id : undefined,
      volume_type: p.volume_type ? (await resolve(findVolumeType, r.client, p.volume_type)).name : undefined,
      metadata: p.metadata && Object.keys(p.metadata).length ? metaStrings(p.metadata) : undefined,
      multiattach: p.multiattach ?? undefined,
    });
    const res = await call(r, 'volume', 'POST', '/volumes', compact({ volume: body, 'OS-SCH-HNT:scheduler_hints': p.scheduler_hints ?? undefined }));
    await r.setPhysicalId(res.volume.id);
  },

  async checkCreateComplete(r) {
    if (!(await volumeIs(r, ['available']))) return false;
    if (r.properties.read_only && !r.data.read_only_set) {
      await call(r, 'volume', 'POST', `/volumes/${r.physicalId}/action`, { 'os-update_readonly_flag': { readonly: true } });
      await r.setData('read_only_set', '1');
    }
    return true;
  },

  async findInterrupted(r) {
    if (r.properties.name) return null;
    const res = await r.client.request('volume', 'GET', `/volumes?name=${encodeURIComponent(r.physicalName())}`);
    return (res.body.volumes as any[])[0]?.id ?? null;
  },

  async handleUpdate(r, c) {
    const id = r.physicalId!;
    const n = c.newProperties, o = c.oldProperties;
    const ch = new Set(c.changed);
    if (ch.has('name') || ch.has('description')) {
      await call(r, 'volume', 'PUT', `/volumes/${id}`, { volume: compact({ name: ch.has('name') ? volumeName(r, n) : undefined, description: ch.has('description') ? n.description ?? '' : undefined }) });
    }
    if (ch.has('metadata')) await call(r, 'volume', 'PUT', `/volumes/${id}/metadata`, { metadata: metaStrings(n.metadata) });
    if (ch.has('read_only')) await call(r, 'volume', 'POST', `/volumes/${id}/action`, { 'os-update_readonly_flag': { readonly: !!n.read_only } });
    const steps: string[] = [];
    if (ch.has('volume_type') && n.volume_type) {
      const t = await resolve(findVolumeType, r.client, n.volume_type);
      steps.push(`retype:${t.name}`);
    }
    if (ch.has('size') && n.size != null) {
      const v = await getVolume(r);
      if (v && n.size < v.size) throw heatError(400, 'NotSupported', 'Shrinking volume is not supported.');
      if (v && n.size > v.size) steps.push(`extend:${n.size}`);
    } else if (ch.has('size') && o.size != null && n.size == null) {
      // Removing the size keeps the volume as it is.
    }
    await r.setData('update_steps', JSON.stringify(steps));
    await r.setData('update_started', '');
  },

  async checkUpdateComplete(r) {
    const steps: string[] = JSON.parse(r.data.update_steps ?? '[]');
    if (!steps.length) return true;
    const [kind, arg] = steps[0].split(':');
    const id = r.physicalId!;
    if (!r.data.update_started) {
      const v = await getVolume(r);
      if (!v) throw heatError(400, 'ResourceUnknownStatus', `The Volume (${id}) could not be found.`);
      if (v.status === 'error') throw inError(v);
      if (!['available', 'in-use'].includes(v.status)) return false;
      await r.setData('prior_status', v.status);
      if (kind === 'extend') {
        await call(r, 'volume', 'POST', `/volumes/${id}/action`, { 'os-extend': { new_size: Number(arg) } }, v.status === 'in-use' ? { microversion: '3.42' } : undefined);
      } else {
        await call(r, 'volume', 'POST', `/volumes/${id}/action`, { 'os-retype': { new_type: arg, migration_policy: 'on-demand' } });
      }
      await r.setData('update_started', '1');
      return false;
    }
    const v = await getVolume(r);
    if (!v) throw heatError(400, 'ResourceUnknownStatus', `The Volume (${id}) could not be found.`);
    if (v.status === 'error' || v.status === 'error_extending') throw inError(v);
    if (v.status !== (r.data.prior_status || 'available')) return false;
    if (kind === 'extend' && v.size < Number(arg)) return false;
    if (kind === 'retype' && v.volume_type !== arg) return false;
    await r.setData('update_steps', JSON.stringify(steps.slice(1)));
    await r.setData('update_started', '');
    return steps.length === 1;
  },

  async handleDelete(r) {
    if (!r.physicalId) return;
    try { await r.client.request('volume', 'DELETE', `/volumes/${r.physicalId}`); } catch (e) {
      if (isNotFound(e)) return;
      const v = await getVolume(r);
      // A delete already under way (an earlier attempt) is fine.
      if (v?.status === 'deleting') return;
      throw heatError(409, 'Conflict', `Volume ${r.physicalId} cannot be deleted: ${(e as Error).message}`);
    }
  },

  async checkDeleteComplete(r) {
    const v = await getVolume(r);
    if (!v) return true;
    if (v.status === 'error_deleting') throw heatError(400, 'ResourceInError', `Went to status ${v.status} due to "Unknown"`);
    return false;
  },

  async resolveAttribute(r, name) {
    const v = await getVolume(r);
    if (!v) return null;
    switch (name) {
      case 'show': return v;
      case 'display_name': return v.name;
      case 'display_description': return v.description;
      case 'metadata': return JSON.stringify(v.metadata ?? {});
      case 'metadata_values': return v.metadata ?? {};
      case 'attachments': return JSON.stringify(v.attachments ?? []);
      case 'attachments_list': return v.attachments ?? [];
      case 'size': return v.size;
      default: return v[name] ?? null;
    }
  },
  async show(r) { return getVolume(r); },
};

// ------------------------------------------------------------------ OS::Cinder::VolumeAttachment

async function attach(r: ResourceContext, serverId: string, volumeId: string, device: string | null) {
  const atts = (await call(r, 'compute', 'GET', `/servers/${serverId}/os-volume_attachments`)).volumeAttachments as any[];
  if (atts.some((a) => a.volumeId === volumeId)) return;
  await call(r, 'compute', 'POST', `/servers/${serverId}/os-volume_attachments`, { volumeAttachment: compact({ volumeId, device: device ?? undefined }) });
}

async function detach(r: ResourceContext, serverId: string, volumeId: string) {
  await ignoreNotFound(r.client.request('compute', 'DELETE', `/servers/${serverId}/os-volume_attachments/${volumeId}`));
}

/** Whether the volume is no longer attached to the server (or either is gone). */
async function detached(r: ResourceContext, serverId: string, volumeId: string): Promise<boolean> {
  const v = await getVolume(r, volumeId);
  if (!v) return true;
  if (v.status === 'error_detaching') throw heatError(400, 'ResourceInError', `Went to status ${v.status} due to "Unknown"`);
  const still = (v.attachments ?? []).some((a: any) => a.server_id === serverId);
  return !still && v.status !== 'detaching';
}

export const volumeAttachment: ResourcePlugin = {
  type: 'OS::Cinder::VolumeAttachment',
  description: 'Attaches an existing volume to a server and waits until the volume is in use; deleting the resource detaches it. Any change on update detaches the volume and attaches it again as the new properties say.',
  properties: {
    instance_uuid: str('Name or ID of the server.', { required: true, update_allowed: true }),
    volume_id: str('Name or ID of the volume.', { required: true, update_allowed: true, constraint: 'cinder.volume' }),
    mountpoint: str('Device name to ask for, e.g. /dev/vdb. The guest may name the disk otherwise; /dev/disk/by-id/ finds it by volume ID.', { update_allowed: true }),
  },
  attributes: {},
  pollMs: 100,

  async handleCreate(r) {
    const p = r.properties;
    const serverId = (await resolve(findServer, r.client, p.instance_uuid)).id;
    const volumeId = (await resolve(findVolume, r.client, p.volume_id)).id;
    await r.setData('server_id', serverId);
    await attach(r, serverId, volumeId, p.mountpoint);
    await r.setPhysicalId(volumeId);
  },

  async checkCreateComplete(r) {
    const v = await getVolume(r);
    if (!v) throw heatError(400, 'ResourceUnknownStatus', `The Volume (${r.physicalId}) could not be found.`);
    if (v.status === 'error' || v.status === 'error_attaching') throw heatError(400, 'ResourceInError', `Went to status ${v.status} due to "Unknown"`);
    if (v.status === 'in-use' && (v.attachments ?? []).some((a: any) => a.server_id === r.data.server_id)) return true;
    if (v.status === 'available') {
      // Nova drops its attachment record when the attach failed; then the volume stays available.
      const atts = await r.client.find('compute', `/servers/${r.data.server_id}/os-volume_attachments`);
      if (!atts || !(atts.volumeAttachments as any[]).some((a) => a.volumeId === v.id)) {
        throw heatError(400, 'ResourceInError', `Volume ${v.id} attachment to server ${r.data.server_id} failed`);
      }
    }
    return false;
  },

  async handleUpdate(r, c) {
    // Detach from the old server, then attach as the new properties say (checkUpdateComplete).
    const serverId = r.data.server_id ?? c.oldProperties.instance_uuid;
    if (r.physicalId) await detach(r, serverId, r.physicalId);
    await r.setData('update_stage', 'detaching');
  },

  async checkUpdateComplete(r) {
    const p = r.properties;
    if (r.data.update_stage === 'detaching') {
      if (r.physicalId && !(await detached(r, r.data.server_id ?? '', r.physicalId))) return false;
      const serverId = (await resolve(findServer, r.client, p.instance_uuid)).id;
      const volumeId = (await resolve(findVolume, r.client, p.volume_id)).id;
      await r.setData('server_id', serverId);
      await attach(r, serverId, volumeId, p.mountpoint);
      await r.setPhysicalId(volumeId);
      await r.setData('update_stage', 'attaching');
      return false;
    }
    const done = await volumeAttachment.checkCreateComplete!(r);
    if (done) await r.setData('update_stage', null);
    return done;
  },

  async handleDelete(r) {
    if (!r.physicalId) return;
    const serverId = r.data.server_id ?? r.properties.instance_uuid;
    if (serverId) await detach(r, serverId, r.physicalId);
  },

  async checkDeleteComplete(r) {
    if (!r.physicalId) return true;
    const serverId = r.data.server_id ?? r.properties.instance_uuid;
    return detached(r, serverId, r.physicalId);
  },

  async resolveAttribute() { return null; },
};

// ------------------------------------------------------------------ OS::Cinder::VolumeType

export const volumeType: ResourcePlugin = {
  type: 'OS::Cinder::VolumeType',
  description: 'A Cinder volume type: a named kind of volume whose extra specs choose where volumes of the type are stored. Only admins may make types by default.',
  properties: {
    name: str('Name of the type.', { required: true, update_allowed: true }),
    metadata: map('Extra specs of the type (key/value pairs); on update the map replaces them.', { update_allowed: true }),
    is_public: bool('Whether every project may use the type; a private type is for the projects in projects.', { default: true, update_allowed: true }),
    description: str('Free text about the type.', { update_allowed: true }),
    projects: listOfStr('Names or IDs of the projects that may use a private type.', { default: [], update_allowed: true, itemConstraint: 'keystone.project' }),
  },
  attributes: { show: attr('The whole object, as the service shows it.', 'map') },
  async handleCreate(r) {
    const p = r.properties;
    const existing = r.data.creating ? ((await call(r, 'volume', 'GET', '/types?is_public=None')).volume_types as any[]).find((t) => t.name === p.name) : null;
    let id = existing?.id as string | undefined;
    if (!id) {
      await r.setData('creating', '1');
      id = (await call(r, 'volume', 'POST', '/types', { volume_type: compact({ name: p.name, description: p.description, 'os-volume-type-access:is_public': p.is_public }) }).catch(async (e) => {
        await r.setData('creating', null);
        throw e;
      })).volume_type.id as string;
    }
    await r.setPhysicalId(id);
    if (p.metadata && Object.keys(p.metadata).length) await call(r, 'volume', 'POST', `/types/${id}/extra_specs`, { extra_specs: metaStrings(p.metadata) });
    if (!p.is_public) for (const proj of p.projects ?? []) {
      const pid = (await resolve(findProject, r.client, proj)).id;
      await call(r, 'volume', 'POST', `/types/${id}/action`, { addProjectAccess: { project: pid } }).catch(() => {});
    }
  },
  async handleUpdate(r, c) {
    const id = r.physicalId!;
    const n = c.newProperties, o = c.oldProperties;
    const body = compact({
      name: c.changed.includes('name') ? n.name : undefined, description: c.changed.includes('description') ? n.description ?? '' : undefined,
      is_public: c.changed.includes('is_public') ? n.is_public : undefined,
    });
    if (Object.keys(body).length) await call(r, 'volume', 'PUT', `/types/${id}`, { volume_type: body });
    if (c.changed.includes('metadata')) {
      for (const k of Object.keys(o.metadata ?? {})) if (!(k in (n.metadata ?? {}))) await ignoreNotFound(r.client.request('volume', 'DELETE', `/types/${id}/extra_specs/${encodeURIComponent(k)}`));
      if (n.metadata && Object.keys(n.metadata).length) await call(r, 'volume', 'POST', `/types/${id}/extra_specs`, { extra_specs: metaStrings(n.metadata) });
    }
    if (c.changed.includes('projects')) {
      const before: string[] = o.projects ?? [], after: string[] = n.projects ?? [];
      for (const pr of after.filter((x) => !before.includes(x))) await call(r, 'volume', 'POST', `/types/${id}/action`, { addProjectAccess: { project: (await resolve(findProject, r.client, pr)).id } });
      for (const pr of before.filter((x) => !after.includes(x))) {
        const proj = await findProject(r.client, pr).catch(() => null);
        if (proj) await r.client.request('volume', 'POST', `/types/${id}/action`, { removeProjectAccess: { project: proj.id } }).catch(() => {});
      }
    }
  },
  async handleDelete(r) {
    if (r.physicalId) await ignoreNotFound(r.client.request('volume', 'DELETE', `/types/${r.physicalId}`));
  },
  async resolveAttribute(r) { return volumeType.show!(r); },
  async show(r) { return r.physicalId ? (await r.client.find('volume', `/types/${r.physicalId}`))?.volume_type ?? null : null; },
};

export const CINDER_PLUGINS: ResourcePlugin[] = [volume, volumeAttachment, volumeType];
