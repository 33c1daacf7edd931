// OS::Heat::RandomString: a random string (passwords, secrets), generated once and kept in
// resource data so it stays the same for the life of the resource.
import { randomInt } from 'node:crypto';
import type { ResourcePlugin } from '../../types.ts';
import { validationFailed } from '../../types.ts';

const CLASSES = ['lettersdigits', 'letters', 'lowercase', 'uppercase', 'digits', 'hexdigits', 'octdigits'];
const LOWER = 'abcdefghijklmnopqrstuvwxyz', UPPER = LOWER.toUpperCase(), DIGITS = '0123456789';
export const SEQUENCES: Record<string, string> = {
  lettersdigits: LOWER + UPPER + DIGITS, letters: LOWER + UPPER, lowercase: LOWER, uppercase: UPPER, digits: DIGITS,
  hexdigits: DIGITS + 'ABCDEF', octdigits: '01234567',
};

const pick = (s: string) => s[randomInt(s.length)];

/** The minimum of every class and sequence first, the rest from all of them, then shuffled. */
export function generate(length: number, classes: { class: string; min: number }[], sequences: { sequence: string; min: number }[]): string {
  const pools = [...classes.map((c) => SEQUENCES[c.class]), ...sequences.map((s) => s.sequence)].filter((p) => p && p.length);
  const chars: string[] = [];
  for (const c of classes) for (let i = 0; i < (c.min ?? 1); i++) chars.push(pick(SEQUENCES[c.class]));
  for (const s of sequences) for (let i = 0; i < (s.min ?? 1); i++) chars.push(pick(s.sequence));
  while (chars.length < length) chars.push(pick(pools[randomInt(pools.length)]));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join('');
}

/** The classes and sequences a definition asks for (the deprecated `sequence` as one class). */
function charSpec(p: Record<string, any>) {
  const sequences = (p.character_sequences ?? []).map((s: any) => ({ sequence: String(s.sequence ?? ''), min: s.min ?? 1 }));
  let classes = (p.character_classes ?? []).map((c: any) => ({ class: c.class ?? 'lettersdigits', min: c.min ?? 1 }));
  if (!classes.length && !sequences.length) classes = [{ class: p.sequence || 'lettersdigits', min: 1 }];
  return { classes, sequences };
}

export const RandomString: ResourcePlugin = {
  type: 'OS::Heat::RandomString',
  description: 'Generates a random string once, e.g. for passwords and secrets of services.',
  supportStatus: { status: 'SUPPORTED', version: '2014.1' },
  properties: {
    length: { type: 'integer', description: 'How many characters to generate.', default: 32, constraints: [{ range: { min: 1, max: 512 } }] },
    sequence: {
      type: 'string', description: 'Characters to draw from (superseded by character_classes).',
      constraints: [{ allowed_values: CLASSES }],
      support_status: {
        status: 'HIDDEN', version: '5.0.0',
        previous_status: { status: 'DEPRECATED', version: '2014.2', message: 'Use property character_classes.' },
      },
    },
    character_classes: {
      type: 'list', description: 'Character classes to draw from, each with the least number of its characters.',
      schema: {
        '*': {
          type: 'map',
          schema: {
            class: {
              type: 'string', description: 'A character class; the string holds at least `min` characters of it.',
              default: 'lettersdigits', constraints: [{ allowed_values: CLASSES }],
            },
            min: {
              type: 'integer', description: 'Least number of characters of this class in the string.', default: 1,
              constraints: [{ range: { min: 1, max: 512 } }],
            },
          },
        },
      },
    },
    character_sequences: {
      type: 'list', description: 'Literal character sequences to draw from, each with the least number of its characters.',
      schema: {
        '*': {
          type: 'map',
          schema: {
            sequence: { type: 'string', description: 'Characters to draw from; the string holds at least `min` of them.', required: true },
            min: {
              type: 'integer', description: 'Least number of characters of this sequence in the string.', default: 1,
              constraints: [{ range: { min: 1, max: 512 } }],
            },
          },
        },
      },
    },
    salt: {
      type: 'string',
      description: 'Not used by the generator: changing it in an update replaces the resource, giving a new string.',
    },
  },
  attributes: {
    value: { description: 'The generated string; referencing the resource gives it too.', type: 'string' },
  },
  async validate(p) {
    if (p.sequence && ((p.character_sequences ?? []).length || (p.character_classes ?? []).length)) {
      throw validationFailed("Cannot use deprecated 'sequence' property along with 'character_sequences' or 'character_classes' properties");
    }
    const { classes, sequences } = charSpec(p);
    const min = [...classes, ...sequences].reduce((n, c) => n + (c.min ?? 1), 0);
    if (min > (p.length ?? 32)) {
      throw validationFailed('Length property cannot be smaller than combined character class and character sequence minimums');
    }
  },
  async handleCreate(r) {
    if (!r.data.value) {
      const { classes, sequences } = charSpec(r.properties);
      await r.setData('value', generate(r.properties.length ?? 32, classes, sequences));
    }
    if (!r.physicalId) await r.setPhysicalId(r.physicalName());
  },
  async handleDelete() { /* nothing outside Heat */ },
  async resolveAttribute(r, name) { return name === 'value' ? r.data.value ?? null : null; },
  refId(r) { return r.physicalId ? r.data.value ?? null : r.name; },
};
