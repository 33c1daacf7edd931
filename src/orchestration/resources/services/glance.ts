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
  description: "A Glance image whose data Glance downloads from a URL (the web-download import). Where the Image service does not offer that import method, as in this cloud, the template fails validation.",
  properties: {
    name: str("Image name (need not be unique); without one the image gets the resource's physical name."),
    id: str('ID for the image; Glance makes up a UUID when omitted.'),
    kernel_id: str('ID of the Glance image to use as the kernel when booting an AMI-style image.', { update_allowed: true, constraint: 'glance.image' }),
    ramdisk_id: str('ID of the Glance image to use as the ramdisk when booting an AMI-style image.', { update_allowed: true, constraint: 'glance.image' }),
    min_disk: int('Smallest disk, in GB, the image can boot on (0: no minimum).', { default: 0, constraints: [{ range: { min: 0 } }] }),
    min_ram: int('Least memory, in MB, the image can boot with (0: no minimum).', { default: 0, constraints: [{ range: { min: 0 } }] }),
    protected: bool('Whether the image is protected from being deleted.', { default: false }),
    disk_format: str('Format of the image data.', { required: true, allowed: ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'] }),
    container_format: str('Container the image data comes in (bare: none).', { required: true, allowed: ['ami', 'ari', 'aki', 'bare', 'ova', 'ovf', 'docker', 'compressed'] }),
    location: str('URL Glance downloads the image data from.', { required: true }),
    tags: listOfStr('Tags for the image; on update the list replaces them.', { update_allowed: true }),
    architecture: str('CPU architecture the image is for, e.g. x86_64.', { update_allowed: true }),
    os_distro: str('Operating system distribution, in lower case, e.g. ubuntu.', { update_allowed: true }),
    os_version: str('Version of the operating system, as its distributor numbers it.', { update_allowed: true }),
    owner: str('ID of the project that owns the image.', { update_allowed: true }),
    visibility: str('Who may see the image: private (its project), shared (the projects it is shared with), community or public.', { default: 'private', update_allowed: true, allowed: ['public', 'private', 'community', 'shared'] }),
    extra_properties: map('Further image properties (key/value); on update they replace the earlier ones.', { default: {}, update_allowed: true }),
  },
  attributes: { show: attr('The whole object, as the service shows it.', 'map') },
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
