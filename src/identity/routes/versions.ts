// Version discovery: GET /identity (300 Multiple Choices listing v3, as Keystone answers "/")
// and GET /identity/v3 (the v3 version document). Both unauthenticated.
import type { FastifyInstance } from 'fastify';
import type { Keystone } from '../keystone.ts';

export function v3Version(ks: Keystone) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${ks.v3}/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

export async function versionRoutes(app: FastifyInstance, ks: Keystone) {
  app.get('/', async (_req, reply) => {
    reply.code(300);
    return { versions: { values: [v3Version(ks)] } };
  });
  app.get('/v3', async () => ({ version: v3Version(ks) }));
}
