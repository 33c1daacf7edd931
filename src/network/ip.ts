// IPv4/IPv6 addresses and CIDRs as BigInts: parsing, canonical text (RFC 5952 for IPv6), ranges
// and EUI-64 (SLAAC) addresses. Neutron's IPAM and validation need arithmetic that node:net lacks.
import { isIPv4, isIPv6 } from 'node:net';

export type IpVersion = 4 | 6;

export interface Cidr {
  version: IpVersion;
  network: bigint; // first address
  prefix: number;
  size: bigint; // number of addresses
}

const BITS = { 4: 32, 6: 128 } as const;

export function ipVersion(s: string): IpVersion | null {
  return isIPv4(s) ? 4 : isIPv6(s) ? 6 : null;
}

/** Parses an address (no zone ids); null when it is not one. */
export function parseIp(s: string): { version: IpVersion; value: bigint } | null {
  if (typeof s !== 'string') return null;
  if (isIPv4(s)) return { version: 4, value: s.split('.').reduce((a, p) => (a << 8n) | BigInt(Number(p)), 0n) };
  if (!isIPv6(s) || s.includes('%')) return null;
  let text = s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = parseIp(v4[1])!.value;
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const h = head ? head.split(':') : [];
  const t = tail === null ? [] : tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return { version: 6, value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

export function formatIp(version: IpVersion, v: bigint): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  const g = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run (≥ 2) of zero groups becomes "::" (RFC 5952).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Canonical text of an address, or null. */
export function normalizeIp(s: string): string | null {
  const p = parseIp(s);
  return p ? formatIp(p.version, p.value) : null;
}

/** Parses "a.b.c.d/n"; `strict` refuses host bits set (Neutron refuses them for subnets). */
export function parseCidr(s: string, strict = false): Cidr | null {
  if (typeof s !== 'string') return null;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s.trim());
  const ip = parseIp(m ? m[1] : s.trim());
  if (!ip) return null;
  const bits = BITS[ip.version];
  const prefix = m ? Number(m[2]) : bits;
  if (prefix > bits) return null;
  const size = 1n << BigInt(bits - prefix);
  const network = (ip.value / size) * size;
  if (strict && network !== ip.value) return null;
  return { version: ip.version, network, prefix, size };
}

export function formatCidr(c: Cidr): string { return `${formatIp(c.version, c.network)}/${c.prefix}`; }
export const lastIp = (c: Cidr) => c.network + c.size - 1n;
export const cidrContains = (c: Cidr, v: bigint) => v >= c.network && v <= lastIp(c);
export const cidrsOverlap = (a: Cidr, b: Cidr) => a.version === b.version && a.network <= lastIp(b) && b.network <= lastIp(a);

/** The SLAAC address of a MAC in a /64 (modified EUI-64). */
export function eui64(prefix: Cidr, mac: string): bigint {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const iid = [b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]].reduce((a, x) => (a << 8n) | BigInt(x), 0n);
  return prefix.network | iid;
}
