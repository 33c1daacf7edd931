// Custom constraints (custom_constraint in parameters and property schemas): the ones Heat
// registers that apply to this cloud. Look-ups go through the stack owner's client, so "not
// found" means not visible to that user, as in Heat. Unknown names are accepted.
import { isIP } from 'node:net';
import { ClientError, type OpenStackClient } from '../types.ts';
import {
  EntityNotFound, findDomain, findFlavor, findGroup, findImage, findKeypair, findNetwork, findPort, findProject, findQosPolicy,
  findRole, findRouter, findSecurityGroup, findServer, findSnapshot, findSubnet, findSubnetPool, findUser, findVolume, findVolumeType,
} from './services/common.ts';

/** null when the value is acceptable, else the error text as Heat words it. */
export type CustomCheck = (constraint: string, value: unknown) => Promise<string | null>;

const err = (value: string, message?: string) => (message ? `Error validating value '${value}': ${message}` : `Error validating value '${value}'`);

type Lookup = (c: OpenStackClient, v: string) => Promise<unknown>;

const LOOKUPS: Record<string, Lookup> = {
  'nova.flavor': findFlavor,
  'nova.keypair': findKeypair,
  'nova.server': findServer,
  'glance.image': findImage,
  'neutron.network': findNetwork,
  'neutron.subnet': findSubnet,
  'neutron.port': findPort,
  'neutron.router': findRouter,
  'neutron.security_group': findSecurityGroup,
  'neutron.qos_policy': findQosPolicy,
  'neutron.subnetpool': findSubnetPool,
  'cinder.volume': findVolume,
  'cinder.vtype': findVolumeType,
  'cinder.snapshot': findSnapshot,
  'cinder.backup': async (c, v) => {
    if (!(await c.find('volume', `/backups/${encodeURIComponent(v)}`))) throw new EntityNotFound('Volume backup', v, `The Volume backup (${v}) could not be found.`);
  },
  'keystone.project': findProject,
  'keystone.user': findUser,
  'keystone.role': findRole,
  'keystone.domain': findDomain,
  'keystone.group': findGroup,
  'nova.host': async (c, v) => {
    try {
      const r = await c.request('compute', 'GET', `/os-services?host=${encodeURIComponent(v)}`);
      if (!(r.body.services as any[]).length) throw new EntityNotFound('Host', v, `The Host (${v}) could not be found.`);
    } catch (e) {
      // Listing hosts is for admins; others cannot check, so the value passes (the create will tell).
      if (e instanceof ClientError && e.status === 403) return;
      throw e;
    }
  },
};

// ------------------------------------------------------------------ value formats

export function isIpAddress(v: string): boolean { return isIP(v) !== 0; }

/** An IPv4/IPv6 network in CIDR notation, prefix required (Heat's net_cidr). */
export function cidrError(v: string): string | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
  if (!m) return 'Invalid net cidr ' + v + ' ';
  const kind = isIP(m[1]);
  if (!kind) return 'Invalid net cidr ' + v + ' ';
  const len = Number(m[2]);
  if (len > (kind === 4 ? 32 : 128)) return 'Invalid net cidr ' + v + ' ';
  return null;
}

/** Six pairs of hex digits separated by ':' or '-' (netaddr's EUI-48 spellings). */
export const isMacAddress = (v: string) => /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i.test(v) || /^[0-9a-f]{12}$/i.test(v) || /^([0-9a-f]{4}\.){2}[0-9a-f]{4}$/i.test(v);

/** ISO 8601 date-times: date, optional time with optional fraction and zone. */
export function isIso8601(v: string): boolean {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,]\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/.exec(v);
  if (!m) return false;
  const [, , mo, d, h, mi, s] = m;
  return +mo >= 1 && +mo <= 12 && +d >= 1 && +d <= 31 && (h === undefined || +h <= 24) && (mi === undefined || +mi <= 59) && (s === undefined || +s <= 60);
}

export function isTimezone(v: string): boolean {
  try { new Intl.DateTimeFormat('en-US', { timeZone: v }); return true; } catch { return false; }
}

const FORMATS: Record<string, (v: string) => string | null | undefined> = {
  ip_addr: (v) => (isIpAddress(v) ? null : 'Invalid IP address'),
  net_cidr: cidrError,
  mac_addr: (v) => (isMacAddress(v) ? null : 'Invalid MAC address.'),
  iso_8601: (v) => (isIso8601(v) ? null : 'Invalid timestamp'),
  timezone: (v) => (isTimezone(v) ? null : `Invalid timezone: '${v}'`),
  // DNS names (Heat's dns_name / dns_domain / rel_dns_name): labels of letters, digits and '-'.
  dns_name: (v) => (/^(?=.{1,255}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i.test(v) ? null : `'${v}' not in valid format. Reason: Invalid DNS name`),
  dns_domain: (v) => (/^(?=.{1,255}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+$/i.test(v) ? null : `'${v}' not in valid format. Reason: Invalid DNS domain`),
  cron_expression: (v) => (v.trim().split(/\s+/).length >= 5 ? null : 'Invalid CRON expression'),
};

export function customCheck(client: OpenStackClient): CustomCheck {
  return async (constraint, value) => {
    if (value === null || value === undefined) return null;
    const v = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
    const format = FORMATS[constraint];
    if (format) {
      const message = format(v);
      return message === null || message === undefined ? null : err(v, message);
    }
    const lookup = LOOKUPS[constraint];
    if (!lookup) return null;
    try {
      await lookup(client, v);
      return null;
    } catch (e) {
      if (e instanceof EntityNotFound) return err(v, e.message);
      // The owner may not look this kind of object up (Keystone's admin-only lists): the create will tell.
      if (e instanceof ClientError && e.status === 403) return null;
      // A service that answers 404 for the whole collection (extension absent): nothing can match.
      if (e instanceof ClientError && e.status === 404) return err(v, `The ${constraint.split('.')[1]} (${v}) could not be found.`);
      if (e instanceof ClientError && e.status === 400) return err(v, `The ${constraint.split('.')[1]} (${v}) could not be found.`);
      throw e;
    }
  };
}
