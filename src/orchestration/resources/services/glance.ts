// OS::Glance::WebImage: an image Glance imports from a URL (the web-download import method).
// This cloud's Glance offers only glance-direct, so validate says so with a 400 before any
// resource is made; should web-download appear in /info/import, the plugin uses it.
import { heatError, validationFailed, type OpenStackClient, type ResourceContext, type ResourcePlugin } from '../../types.ts';
import { attr, bool, call, compact, ignoreNotFound, int, listOfStr, map, str } from './common.ts';

async function importMethods(c: OpenStackClient): Promise<string[]> {
  const info = await c.find('image', '/info/import').catch(() => null);
  return info?.['import-methods']?.value ?? [];
}

async function getImage(r: ResourceContext) {
  return r.physicalId ? await r.client.find('image', `/images/${r.physicalId}`) : null;
}

export const webImage: ResourcePlugin = {
  type: 'OS::Glance::WebImage',
  description: 'A resource managing images in Glance using web-download import. A resource provides managing images that are meant to be used with other services.',
  properties: {
    name: str('Name for the image. The name of an image is not unique to a Image Service node.'),
    id: str('The image ID. Glance will generate a UUID if not specified.'),
    kernel_id: str('ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.', { update_allowed: true, constraint: 'glance.image' }),
    ramdisk_id: str('ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.', { update_allowed: true, constraint: 'glance.image' }),
    min_disk: int('Amount of disk space (in GB) required to boot image. Default value is 0 if not specified and means no limit on the disk size.', { default: 0, constraints: [{ range: { min: 0 } }] }),
    min_ram: int('Amount of ram (in MB) required to boot image. Default value is 0 if not specified and means no limit on the ram size.', { default: 0, constraints: [{ range: { min: 0 } }] }),
    protected: bool('Whether the image can be deleted. If the value is True, the image is protected and cannot be deleted.', { default: false }),
    disk_format: str('Disk format of image.', { required: true, allowed: ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'] }),
    container_format: str('Container format of image.', { required: true, allowed: ['ami', 'ari', 'aki', 'bare', 'ova', 'ovf', 'docker', 'compressed'] }),
    location: str('URL where the data for this image already resides. For example, if the image data is stored in swift, you could specify "swift://example.com/container/obj".', { required: true }),
    tags: listOfStr('List of image tags.', { update_allowed: true }),
    architecture: str('Operating system architecture.', { update_allowed: true }),
    os_distro: str('The common name of the operating system distribution in lowercase.', { update_allowed: true }),
    os_version: str('Operating system version as specified by the distributor.', { update_allowed: true }),
    owner: str('Owner of the image.', { update_allowed: true }),
    visibility: str('Scope of image accessibility.', { default: 'private', update_allowed: true, allowed: ['public', 'private', 'community', 'shared'] }),
    extra_properties: map('Arbitrary properties to associate with the image.', { default: {}, update_allowed: true }),
  },
  attributes: { show: attr('Detailed information about resource.', 'map') },
  pollMs: 200,

  async validate(_p, ctx) {
    if (!(await importMethods(ctx.client)).includes('web-download')) {
      throw validationFailed('OS::Glance::WebImage needs the web-download image import method, which this cloud\'s Image service does not offer (only glance-direct). Upload the image to Glance and refer to it by name or ID instead.', 'StackValidationFailed');
    }
  },

  async handleCreate(r) {
    const p = r.properties;
    let id = p.id ?? r.data.image_id;
    if (!id || !(await r.client.find('image', `/images/${id}`))) {
      const body = compact({
        id: p.id ?? undefined, name: p.name ?? r.physicalName(), disk_format: p.disk_format, container_format: p.container_format,
        min_disk: p.min_disk, min_ram: p.min_ram, protected: p.protected, visibility: p.visibility, tags: p.tags ?? undefined,
        kernel_id: p.kernel_id, ramdisk_id: p.ramdisk_id, architecture: p.architecture, os_distro: p.os_distro, os_version: p.os_version,
        owner: p.owner, ...(p.extra_properties ?? {}),
      });
      id = (await call(r, 'image', 'POST', '/images', body)).id;
      await r.setData('image_id', id);
    }
    await r.setPhysicalId(id);
    await call(r, 'image', 'POST', `/images/${id}/import`, { method: { name: 'web-download', uri: p.location } });
  },

  async findInterrupted(r) {
    if (r.properties.name || r.properties.id) return r.properties.id ?? null;
    const res = await r.client.request('image', 'GET', `/images?name=${encodeURIComponent(r.physicalName())}`);
    return (res.body.images as any[])[0]?.id ?? null;
  },

  async checkCreateComplete(r) {
    const img = await getImage(r);
    if (!img) throw heatError(400, 'ResourceUnknownStatus', `The Image (${r.physicalId}) could not be found.`);
    if (img.status === 'killed' || img.status === 'deleted') throw heatError(400, 'ResourceInError', `Went to status ${img.status} due to "Unknown"`);
    return img.status === 'active';
  },

  async handleUpdate(r, c) {
    const ops: any[] = [];
    const n = c.newProperties, o = c.oldProperties;
    for (const k of ['kernel_id', 'ramdisk_id', 'architecture', 'os_distro', 'os_version', 'owner', 'visibility']) {
      if (!c.changed.includes(k)) continue;
      if (n[k] == null) { if (o[k] != null) ops.push({ op: 'remove', path: `/${k}` }); } else ops.push({ op: o[k] == null ? 'add' : 'replace', path: `/${k}`, value: n[k] });
    }
    if (c.changed.includes('extra_properties')) {
      for (const k of Object.keys(o.extra_properties ?? {})) if (!(k in (n.extra_properties ?? {}))) ops.push({ op: 'remove', path: `/${k}` });
      for (const [k, v] of Object.entries(n.extra_properties ?? {})) ops.push({ op: k in (o.extra_properties ?? {}) ? 'replace' : 'add', path: `/${k}`, value: v });
    }
    if (c.changed.includes('tags')) ops.push({ op: 'replace', path: '/tags', value: n.tags ?? [] });
    if (ops.length) await call(r, 'image', 'PATCH', `/images/${r.physicalId}`, ops, { headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' } });
  },

  async handleDelete(r) {
    if (r.physicalId) await ignoreNotFound(r.client.request('image', 'DELETE', `/images/${r.physicalId}`));
  },

  async resolveAttribute(r) { return getImage(r); },
  async show(r) { return getImage(r); },
};

export const GLANCE_PLUGINS: ResourcePlugin[] = [webImage];
