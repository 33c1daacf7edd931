// The one HTTP server: Fastify, with each service module mounted as an encapsulated plugin under
// its path prefix (/identity, /compute, /image ...), as DevStack mounts them behind Apache.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ApiError, toApiError } from './errors.ts';
import { uuid } from './ids.ts';
import type { Context, ServiceModule } from './service.ts';

export type ErrorRenderer = (err: ApiError, req: FastifyRequest) => { body: unknown; contentType?: string };

export function buildHttpServer(ctx: Context, modules: ServiceModule[], loggerInstance?: any): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance,
    bodyLimit: 1024 * 1024,
    // Nova's and Glance's negative tests send very long ids and expect 404, not 414.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 4096 },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
    genReqId: () => `req-${uuid()}`,
  } as any) as unknown as FastifyInstance;

  // Clients send Content-Type: application/json on bodiless DELETEs and GETs: accept an empty body.
  const defaultJson = app.getDefaultJsonParser('error', 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '' || body === undefined) return done(null, undefined);
    defaultJson(req, body as string, done);
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-openstack-request-id', req.id);
  });

  for (const m of modules) {
    app.register(async (scope) => { await m.routes(scope, ctx); }, { prefix: m.prefix });
  }
  return app;
}

/**
 * Installs a service's error format in its plugin scope: every thrown error and every unknown
 * path under the prefix is rendered by `render`. Unexpected errors are logged and become 500s.
 */
export function useErrorFormat(app: FastifyInstance, ctx: Context, render: ErrorRenderer) {
  const send = (e: ApiError, req: FastifyRequest, reply: FastifyReply) => {
    const { body, contentType } = render(e, req);
    if (e.extra.headers) reply.headers(e.extra.headers);
    reply.code(e.status).type(contentType ?? 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));
  };
  app.setErrorHandler((err, req, reply) => {
    const e = toApiError(err);
    // 501 is a deliberate answer (not supported), not a failure worth an error line.
    if (e.status >= 500 && e.status !== 501) ctx.log.error(`${req.method} ${req.url} failed`, err);
    send(e, req, reply);
  });
  app.setNotFoundHandler((req, reply) => send(new ApiError(404, 'The resource could not be found.'), req, reply));
}
