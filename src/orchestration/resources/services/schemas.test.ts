// The schemas of the service plugins as a whole: every deprecated hidden property that stands for
// a newer one names it in replaced_by (the template language moves its value there), and every
// property and attribute says what it is.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PropertySchema } from '../../types.ts';
import { SERVICE_PLUGINS } from './index.ts';

/** Every level of a schema: the top level, then the keys of maps and of list items. */
function* levels(props: Record<string, PropertySchema>, path: string): Generator<[string, Record<string, PropertySchema>]> {
  yield [path, props];
  for (const [k, s] of Object.entries(props)) {
    const inner = s.type === 'list' ? s.schema?.['*']?.schema : s.schema;
    if (inner) yield* levels(inner, `${path}.${k}`);
  }
}

describe('service plugin schemas', () => {
  it('names the replacement of each hidden property that has one', () => {
    const found: string[] = [];
    for (const p of SERVICE_PLUGINS) {
      for (const [where, props] of levels(p.properties, p.type)) {
        for (const [k, s] of Object.entries(props)) {
          const use = /^Use property (\w+)\.$/.exec(s.support_status?.message ?? '')?.[1];
          if (s.support_status?.status !== 'HIDDEN' || !use) {
            assert.equal(s.replaced_by, undefined, `${where}.${k} is not a deprecated name`);
            continue;
          }
          assert.equal(s.replaced_by, use, `${where}.${k}`);
          const target = props[use];
          assert.ok(target, `${where}.${use} exists`);
          assert.equal(target.type, s.type, `${where}.${k} and ${use} take the same type`);
          assert.notEqual(target.support_status?.status, 'HIDDEN', `${where}.${use} is the visible one`);
          found.push(`${where}.${k}`);
        }
      }
    }
    // The ones Tempest's scenario templates use are among them.
    for (const k of ['OS::Neutron::Subnet.network_id', 'OS::Neutron::Port.network_id', 'OS::Neutron::Port.fixed_ips.subnet_id',
      'OS::Neutron::RouterInterface.router_id', 'OS::Neutron::RouterInterface.subnet_id', 'OS::Neutron::RouterInterface.port_id',
      'OS::Neutron::FloatingIP.floating_network_id', 'OS::Cinder::Volume.imageRef', 'OS::Nova::Server.networks.uuid']) {
      assert.ok(found.includes(k), k);
    }
  });

  it('describes every property and attribute', () => {
    for (const p of SERVICE_PLUGINS) {
      assert.ok(p.description.length > 10, p.type);
      for (const [where, props] of levels(p.properties, p.type)) {
        for (const [k, s] of Object.entries(props)) assert.ok(s.description && s.description.length > 5, `${where}.${k}`);
      }
      for (const [k, a] of Object.entries(p.attributes)) assert.ok(a.description.length > 5, `${p.type} attribute ${k}`);
    }
  });
});
