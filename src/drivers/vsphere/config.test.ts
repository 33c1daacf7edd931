// The vsphere driver's configuration: the single-vCenter environment, a YAML file of several,
// and refusals that name the problem without showing a password.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { loadVsphereConfig, redact } from './config.ts';

describe('vsphere configuration', () => {
  it('reads one vCenter from VISTACK_VSPHERE_URL, credentials URL-decoded and kept out of the URL', () => {
    const { vcenters: [vc] } = loadVsphereConfig({
      VISTACK_VSPHERE_URL: 'https://administrator%40vsphere.local:s%3Acr%40t@vc.example:8989/sdk',
      VISTACK_VSPHERE_CLUSTERS: 'Cluster A=compute01, B', VISTACK_VSPHERE_DATASTORE_REGEX: '^ds-', VISTACK_VSPHERE_SWITCH: 'dvs1',
    });
    assert.equal(vc!.url, 'https://vc.example:8989/sdk');
    assert.equal(vc!.username, 'administrator@vsphere.local');
    assert.equal(vc!.password, 's:cr@t');
    assert.deepEqual(vc!.clusters, [{ name: 'Cluster A', computeHost: 'compute01' }, { name: 'B' }]);
    assert.equal(vc!.folder, 'vistack');
    assert.equal(vc!.insecure, false);
    assert.equal(vc!.switch, 'dvs1');
  });

  it('never shows the password when logged or serialised', () => {
    const { vcenters: [vc] } = loadVsphereConfig({ VISTACK_VSPHERE_URL: 'https://u:hunter2@vc/sdk' });
    assert.ok(!JSON.stringify(vc).includes('hunter2'));
    assert.ok(!inspect(vc).includes('hunter2'));
    assert.equal(redact('connect https://u:hunter2@vc/sdk failed'), 'connect https://***@vc/sdk failed');
  });

  it('refuses what cannot work, naming it', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{}, /URL is required/],
      [{ VISTACK_VSPHERE_URL: 'http://u:p@vc/sdk' }, /must be https/],
      [{ VISTACK_VSPHERE_URL: 'https://vc/sdk' }, /credentials are required/],
      [{ VISTACK_VSPHERE_URL: 'https://u:p@vc/sdk', VISTACK_VSPHERE_CA_FILE: '/nonexistent/ca.pem' }, /cannot read the CA file/],
      [{ VISTACK_VSPHERE_URL: 'https://u:p@vc/sdk', VISTACK_VSPHERE_DATASTORE_REGEX: '(' }, /not a valid regular expression/],
    ];
    for (const [env, msg] of bad) {
      assert.throws(() => loadVsphereConfig(env), (e: Error) => msg.test(e.message) && !e.message.includes(':p@'));
    }
    assert.doesNotThrow(() => loadVsphereConfig({ VISTACK_VSPHERE_URL: 'http://u:p@vc/sdk', VISTACK_VSPHERE_INSECURE: '1' }));
  });

  it('reads several vCenters from a YAML file (passwordFile relative to it) and refuses duplicates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vsphere-cfg-'));
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    const file = join(dir, 'vsphere.yaml');
    writeFileSync(file, `vcenters:
  - name: east
    url: https://east.example/sdk
    username: svc
    passwordFile: pw
    clusters: [{ name: C1, computeHost: east-c1 }]
  - name: west
    url: https://svc:pw2@west.example/sdk
    datastoreRegex: "^west-"
`);
    const { vcenters } = loadVsphereConfig({}, { configFile: file });
    assert.deepEqual(vcenters.map((v) => [v.name, v.username, v.password]), [['east', 'svc', 'from-file'], ['west', 'svc', 'pw2']]);
    writeFileSync(file, `vcenters:
  - { name: a, url: "https://u:p@a/sdk", clusters: [{ name: C1, computeHost: h }] }
  - { name: b, url: "https://u:p@b/sdk", clusters: [{ name: C2, computeHost: h }] }
`);
    assert.throws(() => loadVsphereConfig({}, { configFile: file }), /compute host "h" is given to two clusters/);
  });
});
