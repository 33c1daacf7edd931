// Cinder microversions: negotiated per request from `OpenStack-API-Version: volume X.Y`
// ("latest" is the maximum; no header is 3.0). A malformed version is a 400, one outside
// [MIN, MAX] a 406, as cinder/api/openstack/wsgi.py answers. Handlers branch with
// `atLeast(req, '3.x')`; an API added at a later version than the request's is a bare 404,
// as Cinder's VersionNotFoundForAPIMethod makes it look as if the method did not exist.
import type { FastifyRequest } from 'fastify';
import { ApiError, badRequest } from '../core/errors.ts';

export const MIN_VERSION = '3.0';
/**
 * The highest microversion honoured: every change of Cinder's history from 3.1 up to here
 * behaves as Cinder's (rest_api_version_history.rst). Raise only with every change in between.
 */
export const MAX_VERSION = '3.27';

export interface VolumeMicroversion { major: number; minor: number }

declare module 'fastify' {
  interface FastifyRequest { volumeMicroversion?: VolumeMicroversion }
}

/** APIVersionRequest's format: no leading zeros ("3.01" is invalid). */
export function parseVersion(s: string): VolumeMicroversion | null {
  const m = /^([1-9]\d*)\.([1-9]\d*|0)$/.exec(s);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

const cmp = (a: VolumeMicroversion, b: VolumeMicroversion) => a.major - b.major || a.minor - b.minor;
const MIN = parseVersion(MIN_VERSION)!;
const MAX = parseVersion(MAX_VERSION)!;
export const versionString = (v: VolumeMicroversion) => `${v.major}.${v.minor}`;

/** Reads the requested version from the header; 400 for garbage, 406 outside [MIN, MAX]. */
export function negotiate(req: FastifyRequest): VolumeMicroversion {
  const h = req.headers['openstack-api-version'];
  if (typeof h !== 'string') return MIN;
  let raw: string | undefined;
  for (const part of h.split(',')) {
    const [svc, ver] = part.trim().split(/\s+/);
    if (svc?.toLowerCase() === 'volume') { raw = ver ?? ''; break; }
  }
  if (raw === undefined) return MIN;
  if (raw === 'latest') return MAX;
  const v = parseVersion(raw);
  if (!v) throw badRequest(`API Version String ${raw} is of invalid format. Must be of format MajorNum.MinorNum.`);
  if (cmp(v, MIN) < 0 || cmp(v, MAX) > 0) {
    throw new ApiError(406, `Version ${raw} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`);
  }
  return v;
}

/** The request's version (3.0 when none was negotiated, e.g. outside /v3). */
export const requestVersion = (req: FastifyRequest): VolumeMicroversion => req.volumeMicroversion ?? MIN;

/** True when the request's microversion is `v` or later. */
export function atLeast(req: FastifyRequest, v: string): boolean {
  return cmp(requestVersion(req), parseVersion(v)!) >= 0;
}

/** For APIs added at `v`: below it the route answers 404 as if it did not exist. */
export function requireVersion(req: FastifyRequest, v: string): void {
  if (!atLeast(req, v)) throw new ApiError(404, 'The resource could not be found.');
}
