// Nova microversions: negotiated per request from `OpenStack-API-Version: compute X.Y` or the
// legacy `X-OpenStack-Nova-API-Version: X.Y`; "latest" means the maximum; anything outside
// [MIN, MAX] is a 406. Handlers branch on `req.microversion` with `mv(req).atLeast('2.47')`.
import type { FastifyRequest } from 'fastify';
import { ApiError, badRequest } from '../core/errors.ts';

export const MIN_VERSION = '2.1';
/** Highest microversion this implementation honours; raise only with every change in between. */
export const MAX_VERSION = '2.79';

export interface Microversion { major: number; minor: number }

export function parseVersion(s: string): Microversion | null {
  const m = /^(\d+)\.(\d+)$/.exec(s.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

export const cmp = (a: Microversion, b: Microversion) => a.major - b.major || a.minor - b.minor;
const MIN = parseVersion(MIN_VERSION)!;
const MAX = parseVersion(MAX_VERSION)!;

declare module 'fastify' {
  interface FastifyRequest { microversion?: Microversion }
}

/** Reads the requested version from the headers; throws 400 for garbage and 406 for out of range. */
export function negotiate(req: FastifyRequest): Microversion {
  let raw: string | undefined;
  const h = req.headers['openstack-api-version'];
  if (typeof h === 'string') {
    for (const part of h.split(',')) {
      const [svc, ver] = part.trim().split(/\s+/);
      if (svc?.toLowerCase() === 'compute' && ver) raw = ver;
    }
  }
  const legacy = req.headers['x-openstack-nova-api-version'];
  if (raw === undefined && typeof legacy === 'string') raw = legacy;
  if (raw === undefined) return MIN;
  if (raw.toLowerCase() === 'latest') return MAX;
  const v = parseVersion(raw);
  if (!v) throw badRequest(`API Version String ${raw} is of invalid format. Must be of format MajorNum.MinorNum.`);
  if (cmp(v, MIN) < 0 || cmp(v, MAX) > 0) {
    throw new ApiError(406, `Version ${raw} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`, { name: 'HTTPNotAcceptable' });
  }
  return v;
}

export function mv(req: FastifyRequest) {
  const v = req.microversion ?? MIN;
  return {
    version: v,
    atLeast: (s: string) => cmp(v, parseVersion(s)!) >= 0,
    below: (s: string) => cmp(v, parseVersion(s)!) < 0,
    toString: () => `${v.major}.${v.minor}`,
  };
}
