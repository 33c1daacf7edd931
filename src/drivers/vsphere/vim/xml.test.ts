// The SOAP layer on canned bodies: whatever prefix a server binds the XSI namespace to, the
// decoded values are the same; requests come out in the order they were written, escaped.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { asArray, decodeResponse, encodeRequest, xsdString } from './xml.ts';

const envelope = (body: string, xsiPrefix = 'xsi') => `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:${xsiPrefix}="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

describe('decodeResponse', () => {
  const props = (p: string) => `<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-42</obj>
    <propSet><name>runtime.host</name><val ${p}:type="ManagedObjectReference" type="HostSystem">host-9</val></propSet>
    <propSet><name>config.hardware.numCPU</name><val ${p}:type="xsd:int">4</val></propSet>
    <propSet><name>datastore</name><val ${p}:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="Datastore">/tmp/a&amp;b@folder-5</ManagedObjectReference></val></propSet>
    <propSet><name>config.hardware.device</name><val ${p}:type="ArrayOfVirtualDevice"><VirtualDevice ${p}:type="VirtualDisk"><key>2000</key>
      <backing ${p}:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds] a/a.vmdk</fileName><thinProvisioned>true</thinProvisioned></backing>
      <capacityInKB>1048576</capacityInKB></VirtualDevice></val></propSet>
  </objects></returnval></RetrievePropertiesExResponse>`;

  for (const prefix of ['xsi', 'XMLSchema-instance']) {
    it(`resolves xsi:type through the namespace, bound to "${prefix}"`, () => {
      const out = decodeResponse(envelope(props(prefix), prefix));
      assert.ok('returnval' in out);
      const rv = out.returnval as { objects: Array<{ obj: unknown; propSet: Array<{ name: string; val: unknown }> }> };
      const objects = asArray(rv.objects);
      assert.deepEqual(objects[0]!.obj, { type: 'VirtualMachine', value: 'vm-42' });
      const val = Object.fromEntries(objects[0]!.propSet.map((p) => [p.name, p.val]));
      assert.deepEqual(val['runtime.host'], { type: 'HostSystem', value: 'host-9' });
      assert.equal(val['config.hardware.numCPU'], 4);
      assert.deepEqual(val['datastore'], [{ type: 'Datastore', value: '/tmp/a&b@folder-5' }], 'one-element ArrayOf is still an array');
      const [disk] = val['config.hardware.device'] as Array<Record<string, unknown>>;
      assert.equal(disk!._type, 'VirtualDisk');
      assert.equal(disk!.key, 2000);
      assert.equal(disk!.capacityInKB, 1048576);
      assert.deepEqual(disk!.backing, { _type: 'VirtualDiskFlatVer2BackingInfo', fileName: '[ds] a/a.vmdk', thinProvisioned: true });
    });
  }

  it('does not take an unrelated attribute ending in ":type" for xsi:type', () => {
    const out = decodeResponse(envelope(`<R xmlns="urn:vim25" xmlns:other="urn:x"><returnval other:type="Nope"><name>x</name></returnval></R>`));
    assert.deepEqual((out as { returnval: unknown }).returnval, { name: 'x' });
  });

  it('decodes a fault by the type in its detail', () => {
    const out = decodeResponse(envelope(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The object has already been deleted</faultstring>
      <detail><ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound"><obj type="VirtualMachine">vm-1</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>`));
    assert.ok('fault' in out);
    assert.equal(out.fault.name, 'ManagedObjectNotFound');
    assert.equal(out.fault.message, 'The object has already been deleted');
    assert.deepEqual(out.fault.detail.obj, { type: 'VirtualMachine', value: 'vm-1' });
  });

  it('names a fault by its element when the detail has no xsi:type', () => {
    const out = decodeResponse(envelope(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>x</faultstring><detail><NotAuthenticatedFault xmlns="urn:vim25"><privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail></soapenv:Fault>`));
    assert.ok('fault' in out);
    assert.equal(out.fault.name, 'NotAuthenticated');
  });

  it('gives an empty response no returnval', () => {
    assert.deepEqual(decodeResponse(envelope('<LogoutResponse xmlns="urn:vim25"></LogoutResponse>')), { returnval: undefined });
  });
});

describe('encodeRequest', () => {
  it('writes _this, parameters in order, xsi:type, MoRefs, arrays and escapes text', () => {
    const xml = encodeRequest('ReconfigVM_Task', { type: 'VirtualMachine', value: 'vm-1' }, {
      spec: {
        annotation: 'a < b & "c"', numCPUs: 2, memoryMB: 1024,
        deviceChange: [{ operation: 'add', device: { _type: 'VirtualDisk', key: -1, capacityInKB: 10 } }],
        extraConfig: [{ key: 'vistack.owner', value: xsdString('vistack') }],
      },
    });
    assert.match(xml, /<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-1<\/_this><spec>/);
    assert.match(xml, /<annotation>a &lt; b &amp; &quot;c&quot;<\/annotation><numCPUs>2<\/numCPUs><memoryMB>1024<\/memoryMB>/);
    assert.match(xml, /<deviceChange><operation>add<\/operation><device xsi:type="VirtualDisk"><key>-1<\/key><capacityInKB>10<\/capacityInKB><\/device><\/deviceChange>/);
    assert.match(xml, /<extraConfig><key>vistack.owner<\/key><value xsi:type="xsd:string">vistack<\/value><\/extraConfig>/);
    assert.match(xml, /xmlns:xsi="http:\/\/www.w3.org\/2001\/XMLSchema-instance"/);
  });

  it('escapes morefs (vcsim datastore ids are paths)', () => {
    const xml = encodeRequest('Destroy_Task', { type: 'Datastore', value: '/tmp/a&b<c@folder-5' });
    assert.match(xml, /<_this type="Datastore">\/tmp\/a&amp;b&lt;c@folder-5<\/_this>/);
  });
});
