// Heat is a client of the other services, as upstream: its resource plugins call Nova, Neutron,
// Cinder, Glance and Keystone through their public APIs — here in-process (Fastify inject, no
// socket), with a project-scoped token of the stack's owner issued by the identity module (what
// a Keystone trust gives Heat upstream). Going through the API keeps every validation, policy
// check and quota of the service in the path, exactly as for any other client.
import type { Context } from '../core/service.ts';
import { ClientError, type ClientResponse, type OpenStackClient, type ServiceType } from './types.ts';

/** Versioned roots of the services, under the cloud's own URL space. */
function root(service: ServiceType, projectId: string): string {
  switch (service) {
    case 'compute': return '/compute/v2.1';
    case 'network': return '/networking/v2.0';
    case 'volume': return `/volume/v3/${projectId}`;
    case 'image': return '/image/v2';
    case 'identity': return '/identity/v3';
    case 'orchestration': return `/heat-api/v1/${projectId}`;
  }
}

/** Renew a cached token this long before it expires. */
const RENEW_MARGIN_MS = 5 * 60_000;

export function createClient(ctx: Context, owner: { userId: string; projectId: string }): OpenStackClient {
  let cached: { token: string; expiresAt: number } | null = null;
  const token = async (): Promise<string> => {
    if (!cached || cached.expiresAt - Date.now() < RENEW_MARGIN_MS) {
      const identity = ctx.services.identity;
      if (!identity) throw new Error('identity module not initialised');
      try {
        cached = await identity.issueDelegatedToken(owner.userId, owner.projectId);
      } catch (e: any) {
        throw new ClientError(401, `The stack owner can no longer act on project ${owner.projectId}: ${e?.message ?? e}`, null);
      }
    }
    return cached.token;
  };

  const request: OpenStackClient['request'] = async (service, method, path, body?, opts = {}) => {
    if (!ctx.http) throw new Error('HTTP server not built yet');
    const headers: Record<string, string> = { 'x-auth-token': await token(), accept: 'application/json', ...opts.headers };
    if (opts.microversion) {
      headers['openstack-api-version'] = `${service === 'volume' ? 'volume' : service} ${opts.microversion}`;
      if (service === 'compute') headers['x-openstack-nova-api-version'] = opts.microversion;
    }
    let payload: string | Buffer | undefined;
    if (body !== undefined) {
      if (Buffer.isBuffer(body)) payload = body;
      else {
        payload = JSON.stringify(body);
        headers['content-type'] ??= 'application/json';
      }
    }
    const res = await ctx.http.inject({ method: method as any, url: root(service, owner.projectId) + path, headers, payload });
    const text = res.body;
    let parsed: unknown = text;
    if (text && String(res.headers['content-type'] ?? '').includes('json')) {
      try { parsed = JSON.parse(text); } catch { /* keep the text */ }
    } else if (!text) parsed = null;
    if (res.statusCode >= 400) {
      throw new ClientError(res.statusCode, `${service} ${method} ${path}: ${res.statusCode} ${errorMessage(parsed) ?? text}`, parsed);
    }
    return { status: res.statusCode, headers: res.headers as ClientResponse['headers'], body: parsed } satisfies ClientResponse;
  };

  return {
    request,
    async find(service, path) {
      try {
        return (await request(service, 'GET', path)).body;
      } catch (e) {
        if (e instanceof ClientError && e.status === 404) return null;
        throw e;
      }
    },
  };
}

/** The message inside any of the services' error formats. */
export function errorMessage(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return typeof body === 'string' && body ? body : undefined;
  const b = body as Record<string, any>;
  if (b.NeutronError?.message) return b.NeutronError.message;
  if (b.error?.message) return b.error.message;
  if (typeof b.message === 'string') return b.message;
  for (const v of Object.values(b)) if (v && typeof v === 'object' && typeof v.message === 'string') return v.message;
  return undefined;
}
