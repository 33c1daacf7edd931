// Every authenticated /v3 resource route, one file per resource.
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import type { Keystone } from '../keystone.ts';
import { isotime } from '../tokens.ts';
import { domainRoutes } from './domains.ts';
import { projectRoutes } from './projects.ts';
import { userRoutes } from './users.ts';
import { groupRoutes } from './groups.ts';
import { roleRoutes } from './roles.ts';
import { assignmentRoutes } from './assignments.ts';
import { catalogRoutes } from './catalog.ts';
import { appCredRoutes } from './appcreds.ts';
import { query } from './common.ts';

export async function v3Routes(app: FastifyInstance, ks: Keystone) {
  await domainRoutes(app, ks);
  await projectRoutes(app, ks);
  await userRoutes(app, ks);
  await groupRoutes(app, ks);
  await roleRoutes(app, ks);
  await assignmentRoutes(app, ks);
  await catalogRoutes(app, ks);
  await appCredRoutes(app, ks);

  // GET /v3/OS-REVOKE/events: the revocation events, for services that keep their own token cache.
  app.get('/OS-REVOKE/events', { preHandler: ks.authenticate }, async (req) => {
    ks.enforce(req, 'identity:list_revoke_events');
    const since = query(req).since;
    const sinceMs = since === undefined ? undefined : Date.parse(since);
    if (sinceMs !== undefined && Number.isNaN(sinceMs)) throw new ApiError(400, `Invalid input for field 'since': '${since}' is not a valid ISO 8601 date-time`);
    const events = ks.revocations.list(sinceMs).map((e) => {
      const out: Record<string, unknown> = { issued_before: isotime(e.issued_before), revoked_at: isotime(e.revoked_at) };
      for (const k of ['domain_id', 'project_id', 'user_id', 'role_id', 'audit_id', 'audit_chain_id'] as const) if (e[k]) out[k] = e[k];
      return out;
    });
    return { events, links: { self: `${ks.v3}/OS-REVOKE/events`, previous: null, next: null } };
  });
}
