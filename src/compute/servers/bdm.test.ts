// The pure parts of Nova's networking and block-device handling: device names as the VMware
// driver hands them out, the API's `networks` as NetworkApi requests, the addresses views; and,
// through HTTP, the block device mappings and networks a cloud without Cinder/Neutron refuses.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextDeviceName } from './bdm.ts';
import { addressesOf, basicAddresses, requestedFromApi } from './network.ts';
import type { InstanceVif } from '../../network/api.ts';
import { createServer, mvh, setup, type Env } from './test_helpers.ts';

describe('device names', () => {
  it('gives /dev/sdb first, skips the flavor disks and names in use', () => {
    assert.equal(nextDeviceName({ ephemeralGb: 0, swapMb: 0 }, [], false), '/dev/sdb');
    assert.equal(nextDeviceName({ ephemeralGb: 0, swapMb: 0 }, ['/dev/sdb'], false), '/dev/sdc');
    assert.equal(nextDeviceName({ ephemeralGb: 1, swapMb: 512 }, [], false), '/dev/sdd');
    // A volume-backed server has no local root disk to make room for.
    assert.equal(nextDeviceName({ ephemeralGb: 0, swapMb: 0 }, ['/dev/sda'], true), '/dev/sdb');
    const used = Array.from({ length: 24 }, (_, k) => `/dev/sd${'bcdefghijklmnopqrstuvwxyz'[k]}`);
    assert.equal(nextDeviceName({ ephemeralGb: 0, swapMb: 0 }, used, false), '/dev/sdz');
    assert.equal(nextDeviceName({ ephemeralGb: 0, swapMb: 0 }, [...used, '/dev/sdz'], false), '/dev/sdaa');
  });
});

describe('networks', () => {
  it('turns the API networks into NetworkApi requests', () => {
    assert.deepEqual(requestedFromApi(null), []);
    assert.deepEqual(requestedFromApi(undefined), []);
    assert.equal(requestedFromApi('auto'), 'auto');
    assert.equal(requestedFromApi('none'), 'none');
    assert.deepEqual(requestedFromApi([{ uuid: 'n1', fixed_ip: '10.0.0.5', tag: 't' }, { port: 'p1' }]), [
      { networkId: 'n1', fixedIp: '10.0.0.5', tag: 't' }, { portId: 'p1' },
    ]);
  });

  it('shows fixed and floating addresses per network label', () => {
    const vif: InstanceVif = {
      portId: 'p', networkId: 'n', networkLabel: 'private', macAddress: 'fa:16:3e:00:00:01', portGroup: 'vistack-net-n',
      fixedIps: [{ address: '10.0.0.5', version: 4, subnetId: 's' }, { address: 'fd00::5', version: 6, subnetId: 's6' }],
      floatingIps: [{ address: '172.24.4.10' }], preserveOnDelete: false, tag: null,
    };
    assert.deepEqual(addressesOf([vif]), {
      private: [
        { version: 4, addr: '10.0.0.5', 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01' },
        { version: 6, addr: 'fd00::5', 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01' },
        { version: 4, addr: '172.24.4.10', 'OS-EXT-IPS:type': 'floating', 'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01' },
      ],
    });
    assert.deepEqual(basicAddresses([vif]), { private: [{ version: 4, addr: '10.0.0.5' }, { version: 6, addr: 'fd00::5' }, { version: 4, addr: '172.24.4.10' }] });
    assert.deepEqual(addressesOf(undefined), {});
  });
});

describe('without a volume or network service', () => {
  let env: Env;
  before(async () => { env = await setup(); });
  after(async () => { await env?.cloud.close(); });

  it('refuses volume block device mappings and unknown networks with 400, writing nothing', async () => {
    const cases: Record<string, unknown>[] = [
      { imageRef: '', block_device_mapping_v2: [{ source_type: 'volume', destination_type: 'volume', uuid: '8a7b3d5e-0000-4000-8000-000000000001', boot_index: 0 }] },
      { imageRef: '', block_device_mapping_v2: [{ source_type: 'image', destination_type: 'volume', uuid: env.imageId, boot_index: 0, volume_size: 1 }] },
      { block_device_mapping_v2: [{ source_type: 'image', destination_type: 'local', uuid: env.imageId, boot_index: 0 }, { source_type: 'blank', destination_type: 'local', boot_index: 2 }] },
      { imageRef: '', block_device_mapping: [{ volume_id: '8a7b3d5e-0000-4000-8000-000000000001', device_name: 'vda' }] },
      { networks: [{ uuid: '8a7b3d5e-0000-4000-8000-000000000002' }] },
      { networks: [{ port: '8a7b3d5e-0000-4000-8000-000000000003' }] },
    ];
    if (env.cloud.ctx.services.volume) cases.splice(0, 4);
    if (env.cloud.ctx.services.network) cases.splice(-2, 2);
    for (const c of cases) {
      const r = await createServer(env, env.demo, { name: 'refused', ...c });
      assert.equal(r.status, 400, `${JSON.stringify(c)} → ${r.status} ${JSON.stringify(r.body)}`);
    }
    assert.deepEqual((await env.demo.json('GET', '/compute/v2.1/servers?name=refused')).body.servers, []);
  });

  it('boots from an image given as a local block device mapping, with no volumes attached', async () => {
    const r = await createServer(env, env.demo, { name: 'bdm-local', imageRef: '', block_device_mapping_v2: [{ source_type: 'image', destination_type: 'local', uuid: env.imageId, boot_index: 0 }] }, mvh('2.3'));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await env.cloud.ctx.tasks.idle();
    const s = (await env.demo.json('GET', `/compute/v2.1/servers/${r.body.server.id}`, undefined, mvh('2.3'))).body.server;
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s.image.id, env.imageId);
    assert.deepEqual(s['os-extended-volumes:volumes_attached'], []);
    assert.deepEqual((await env.demo.json('GET', `/compute/v2.1/servers/${s.id}/os-volume_attachments`)).body, { volumeAttachments: [] });
  });

  it('answers the deprecated proxies with 404 (no service, or 2.36+)', async () => {
    for (const path of ['/os-networks', '/os-security-groups', '/os-floating-ips', '/os-volumes', '/os-snapshots']) {
      assert.equal((await env.demo.json('GET', `/compute/v2.1${path}`, undefined, mvh('2.36'))).status, 404, path);
      if (!env.cloud.ctx.services.network && !env.cloud.ctx.services.volume) {
        assert.equal((await env.demo.json('GET', `/compute/v2.1${path}`)).status, 404, path);
      }
    }
  });
});
