// OS::Heat::Value (an expression's value, typed like a parameter) and OS::Heat::None (a stand-in
// that accepts any properties and does nothing, used to switch resources off in environments).
import type { ResourcePlugin } from '../../types.ts';
import { validationFailed } from '../../types.ts';

const TYPES = ['string', 'number', 'comma_delimited_list', 'json', 'boolean'];

/** The value converted to its declared type, as a parameter of that type would be. */
export function typedValue(value: unknown, type: string | null | undefined): unknown {
  if (!type) return value;
  const bad = () => validationFailed(`Value "${typeof value === 'string' ? value : JSON.stringify(value)}" is invalid for type ${type}`);
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      throw bad();
    case 'number': {
      if (typeof value === 'number') return value;
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (Number.isNaN(n)) throw bad();
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && ['true', 'false', 't', 'f', 'yes', 'no', 'y', 'n', 'on', 'off', '1', '0'].includes(value.toLowerCase())) {
        return ['true', 't', 'yes', 'y', 'on', '1'].includes(value.toLowerCase());
      }
      if (value === 0 || value === 1) return value === 1;
      throw bad();
    case 'comma_delimited_list':
      if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
      if (typeof value === 'string') return value === '' ? [] : value.split(',').map((s) => s.trim());
      throw bad();
    case 'json':
      if (typeof value === 'string') {
        try { return JSON.parse(value); } catch { throw bad(); }
      }
      if (value !== null && typeof value === 'object') return value;
      throw bad();
  }
  return value;
}

export const Value: ResourcePlugin = {
  type: 'OS::Heat::Value',
  description: 'Holds the value of an expression, optionally converted to a parameter type, as its "value" attribute.',
  supportStatus: { status: 'SUPPORTED', version: '7.0.0' },
  properties: {
    value: { type: 'any', description: 'The expression whose result becomes the "value" attribute.', required: true, update_allowed: true },
    type: {
      type: 'string', description: 'Type the value is converted to and checked against.', update_allowed: true,
      constraints: [{ allowed_values: TYPES }],
    },
  },
  attributes: {
    value: { description: 'The "value" property, of the type given by the "type" property.' },
  },
  async validate(p) { typedValue(p.value, p.type); },
  async handleCreate(r) { if (!r.physicalId) await r.setPhysicalId(r.physicalName()); },
  async handleUpdate() { /* the attribute is computed from the properties */ },
  async handleDelete() { /* nothing to remove */ },
  async resolveAttribute(r, name) { return name === 'value' ? typedValue(r.properties.value, r.properties.type) : null; },
};

export const NoneResource: ResourcePlugin = {
  type: 'OS::Heat::None',
  description: 'Does nothing and accepts any properties: map a resource type to it to leave that resource out.',
  supportStatus: { status: 'SUPPORTED', version: '5.0.0' },
  properties: {},
  acceptsAnyProperties: true,
  attributes: {},
  async handleCreate(r) { if (!r.physicalId) await r.setPhysicalId(r.physicalName()); },
  async handleUpdate() { /* nothing to change */ },
  async handleDelete() { /* nothing to remove */ },
  async resolveAttribute() { return null; },
  // Any attribute of a None resource is null, so templates that read the replaced resource still resolve.
  async resolveAttributePath() { return null; },
};
