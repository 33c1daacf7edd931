// Nova's version discovery, served without authentication as nova-api does: GET /compute lists
// the v2.0 (legacy, deprecated) and v2.1 (current, microversioned) endpoints; GET /compute/v2.1
// and /compute/v2 describe one version with its media types.
import type { FastifyInstance } from 'fastify';
import type { ComputePart } from './index.ts';
import type { Context } from '../core/service.ts';
import { MIN_VERSION, MAX_VERSION } from './microversion.ts';

const DOCS = 'http://docs.openstack.org/';

const VERSIONS = {
  'v2.0': {
    id: 'v2.0', status: 'DEPRECATED', version: '', min_version: '', updated: '2025-07-04T12:00:00Z', path: 'v2',
    mediaType: 'application/vnd.openstack.compute+json;version=2',
  },
  'v2.1': {
    id: 'v2.1', status: 'CURRENT', version: MAX_VERSION, min_version: MIN_VERSION, updated: '2013-07-23T11:33:21Z', path: 'v2.1',
    mediaType: 'application/vnd.openstack.compute+json;version=2.1',
  },
};

function base(ctx: Context) {
  return `${ctx.config.publicUrl}/compute`;
}

/** One version document (GET /compute/v2.1/): its self link, docs link and media types. */
function versionDoc(ctx: Context, v: (typeof VERSIONS)['v2.1']) {
  return {
    version: {
      id: v.id, status: v.status, version: v.version, min_version: v.min_version, updated: v.updated,
      links: [
        { rel: 'self', href: `${base(ctx)}/${v.path}/` },
        { rel: 'describedby', type: 'text/html', href: DOCS },
      ],
      'media-types': [{ base: 'application/json', type: v.mediaType }],
    },
  };
}

async function publicRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/', async () => ({
    versions: Object.values(VERSIONS).map((v) => ({
      id: v.id, status: v.status, version: v.version, min_version: v.min_version, updated: v.updated,
      links: [{ rel: 'self', href: `${base(ctx)}/${v.path}/` }],
    })),
  }));
  app.get('/v2.1', async () => versionDoc(ctx, VERSIONS['v2.1']));
  app.get('/v2', async () => versionDoc(ctx, VERSIONS['v2.0']));
}

export const versions: ComputePart = { migrations: [], async routes() {}, publicRoutes };
