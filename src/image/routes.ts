// Glance's HTTP surface under /image: version discovery, and the v2 API (also reachable as
// /v2.0 ... /v2.9, as Glance's version negotiation allows). Bodies are JSON whatever the
// Content-Type says (Glance does not look), except image data, which must be
// application/octet-stream and is handed to the handler as the raw request stream.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { requireToken } from '../core/auth.ts';
import { ApiError } from '../core/errors.ts';
import { useErrorFormat } from '../core/http.ts';
import type { Context } from '../core/service.ts';
import { badRequest, glanceError, notFound, renderGlanceError } from './errors.ts';
import { mediaType, parsePatch, patchDraft, PATCH_MEDIA_TYPES } from './patch.ts';
import { imageSchema, imagesSchema, memberSchema, membersSchema, taskSchema, tasksSchema } from './schema.ts';
import type { Caller, ImageService } from './service.ts';

/** The versions we answer to, newest first; CURRENT on the newest (as a single-store Glance lists them). */
const VERSIONS = ['2.9', '2.7', '2.6', '2.5', '2.4', '2.3', '2.2', '2.1', '2.0'];
const ALLOWED_PREFIXES = new Set(['v2', ...VERSIONS.map((v) => `v${v}`)]);

function versions(ctx: Context) {
  const href = `${ctx.config.publicUrl}/image/v2/`;
  return {
    versions: VERSIONS.map((v, i) => ({
      id: `v${v}`, status: i === 0 ? 'CURRENT' : 'SUPPORTED', links: [{ rel: 'self', href }],
    })),
  };
}

const sendVersions = (ctx: Context, reply: FastifyReply, status: number) =>
  reply.code(status).type('application/json').send(JSON.stringify(versions(ctx)));

class JsonBody {
  readonly value: unknown;
  constructor(v: unknown) { this.value = v; }
}

/** Glance's JSONRequestDeserializer.from_json. */
function parseJson(text: string): unknown {
  if (text === '') return undefined;
  let v: unknown;
  try { v = JSON.parse(text); } catch { throw badRequest('Malformed JSON in request body.'); }
  if (v === null || typeof v !== 'object') throw badRequest('Unexpected body type. Expected list/dict.');
  return v;
}

const body = (req: FastifyRequest): unknown => (req.body instanceof JsonBody ? req.body.value : undefined);
const caller = (req: FastifyRequest): Caller => ({ auth: req.auth ?? null, requestId: String(req.id) });
const hasBody = (req: FastifyRequest) =>
  Number(req.headers['content-length'] ?? 0) > 0 || /chunked/i.test(String(req.headers['transfer-encoding'] ?? ''));

/** Routes with body_reject in Glance's router refuse a request body. */
async function rejectBody(req: FastifyRequest) {
  if (hasBody(req)) throw badRequest('A body is not expected with this request.');
}

/** A client that hangs up mid-upload is its own failure, not a server error. */
async function clientAborts<T>(p: Promise<T>): Promise<T> {
  try { return await p; } catch (e: any) {
    if (e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted') {
      throw badRequest('The request body ended before all the image data was received.');
    }
    throw e;
  }
}

/** x-openstack-image-size, else Content-Length (Glance's _get_image_size). */
function declaredSize(req: FastifyRequest): number | null {
  const h = req.headers['x-openstack-image-size'] ?? req.headers['content-length'];
  if (h === undefined) return null;
  const s = String(h).trim();
  if (!/^\d+$/.test(s)) throw badRequest('Invalid or missing image size in request headers.');
  return Number(s) || null;
}

/** Image data must be application/octet-stream; checked before any byte is read. */
async function octetStreamOnly(req: FastifyRequest) {
  const ct = req.headers['content-type'];
  if (mediaType(ct) !== 'application/octet-stream') {
    throw glanceError(415, undefined, `Invalid content type ${ct === undefined ? 'None' : mediaType(ct)}`, { Connection: 'close' });
  }
}

type Handler = (req: FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | string[]> }>, reply: FastifyReply) => Promise<unknown>;

/** Registers a path's methods and answers 405 with Allow for the others, as Glance's router does. */
function resource(app: FastifyInstance, url: string, methods: Record<string, Handler | { handler: Handler; preParsing?: any; bodyReject?: boolean }>) {
  const allowed = Object.keys(methods);
  for (const [method, h] of Object.entries(methods)) {
    const def = typeof h === 'function' ? { handler: h } : h;
    app.route({
      method: method as any, url,
      ...(def.preParsing ? { preParsing: def.preParsing } : {}),
      ...(def.bodyReject ? { preValidation: rejectBody } : {}),
      handler: def.handler as any,
    });
  }
  const others = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => !allowed.includes(m));
  if (others.length) {
    app.route({
      method: others as any, url,
      handler: async () => { throw glanceError(405, undefined, undefined, { Allow: allowed.join(', ') }); },
    });
  }
}

export async function imageRoutes(app: FastifyInstance, ctx: Context, svc: ImageService) {
  useErrorFormat(app, ctx, renderGlanceError);
  const authenticate = requireToken(ctx.tokens);
  const wwwAuthenticate = { 'WWW-Authenticate': `Keystone uri="${ctx.config.publicUrl}/identity"` };
  const auth = async (req: FastifyRequest) => {
    try { await authenticate(req); } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw new ApiError(401, e.message, { headers: wwwAuthenticate });
      throw e;
    }
  };

  // Bodies: JSON under any content type (Glance never checks it); image data as a raw stream.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  const json = (_req: FastifyRequest, text: string | Buffer, done: (e: Error | null, b?: unknown) => void) => {
    try { done(null, new JsonBody(parseJson(String(text)))); } catch (e) { done(e as Error); }
  };
  app.addContentTypeParser(['application/json', ...Object.keys(PATCH_MEDIA_TYPES)], { parseAs: 'string' }, json);
  app.addContentTypeParser('*', { parseAs: 'string' }, json);
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  // Unknown version prefixes get the version list, as Glance's version negotiation answers.
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: '/*', handler: async (req, reply) => {
    const seg = req.url.replace(/^\/image\/?/, '').split(/[/?]/)[0];
    if (!ALLOWED_PREFIXES.has(seg)) return sendVersions(ctx, reply, 300);
    await auth(req);
    throw notFound();
  } });
  app.get('/', async (_req, reply) => sendVersions(ctx, reply, 300));
  app.get('/versions', async (_req, reply) => sendVersions(ctx, reply, 200));

  await app.register(async (v2) => {
    v2.addHook('onRequest', async (req, reply) => {
      const ver = (req.params as any).api_version;
      if (!ALLOWED_PREFIXES.has(ver)) return sendVersions(ctx, reply, 300);
      await auth(req);
      // /v2/images/ is not /v2/images: Glance's router answers 404 (Tempest checks an empty id).
      if (req.url.split('?')[0].endsWith('/')) throw notFound();
    });
    await v2Routes(v2, ctx, svc);
  }, { prefix: '/:api_version' });
}

async function v2Routes(app: FastifyInstance, ctx: Context, svc: ImageService) {
  const importMethods = svc.opts.importMethods.join(',');

  resource(app, '/images', {
    GET: async (req) => {
      const { images, nextMarker } = await svc.list(caller(req), req.query);
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query)) if (k !== 'marker') params.set(k, Array.isArray(v) ? v[v.length - 1] : v);
      const q = params.toString();
      const out: Record<string, unknown> = {
        images: images.map((i) => svc.view(i)),
        first: q ? `/v2/images?${q}` : '/v2/images',
        schema: '/v2/schemas/images',
      };
      if (nextMarker) { params.set('marker', nextMarker); out.next = `/v2/images?${params.toString()}`; }
      return out;
    },
    POST: async (req, reply) => {
      const img = await svc.create(caller(req), body(req));
      reply.code(201).header('Location', `${ctx.config.publicUrl}/image/v2/images/${img.id}`);
      if (importMethods) reply.header('OpenStack-image-import-methods', importMethods);
      return svc.view(img);
    },
  });

  resource(app, '/images/:image_id', {
    GET: { bodyReject: true, handler: async (req) => svc.view(await svc.find(caller(req), req.params.image_id)) },
    PATCH: async (req) => {
      const draft = patchDraft(req.headers['content-type']);
      const changes = parsePatch(body(req), draft);
      return svc.view(await svc.update(caller(req), req.params.image_id, changes));
    },
    DELETE: { bodyReject: true, handler: async (req, reply) => { await svc.deleteImage(caller(req), req.params.image_id); reply.code(204); } },
  });

  resource(app, '/images/:image_id/tasks', {
    GET: { bodyReject: true, handler: async (req) => ({ tasks: await svc.tasks(caller(req), req.params.image_id) }) },
  });

  resource(app, '/images/:image_id/actions/deactivate', {
    POST: { bodyReject: true, handler: async (req, reply) => { await svc.deactivate(caller(req), req.params.image_id); reply.code(204); } },
  });
  resource(app, '/images/:image_id/actions/reactivate', {
    POST: { bodyReject: true, handler: async (req, reply) => { await svc.reactivate(caller(req), req.params.image_id); reply.code(204); } },
  });

  resource(app, '/images/:image_id/file', {
    PUT: {
      preParsing: async (req: FastifyRequest) => { await octetStreamOnly(req); },
      handler: async (req, reply) => {
        const size = declaredSize(req);
        const data = (req.body as Readable | undefined) ?? req.raw;
        await clientAborts(svc.upload(caller(req), req.params.image_id, data, { size }));
        reply.code(204);
      },
    },
    GET: async (req, reply) => {
      const img = await svc.downloadable(caller(req), req.params.image_id);
      const size = img.size ?? 0;
      const range = img.location ? parseRange(req, size) : null;
      const stream = await svc.openData(img, range ? { start: range.start, end: range.end + 1 } : undefined);
      if (!stream) return reply.code(204).send();
      reply.type('application/octet-stream');
      if (img.checksum) reply.header('Content-MD5', img.checksum);
      if (range) {
        reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
        reply.header('Content-Length', String(range.end - range.start + 1));
      } else {
        reply.header('Content-Length', String(size));
      }
      return reply.send(stream);
    },
  });

  resource(app, '/images/:image_id/stage', {
    PUT: {
      preParsing: async (req: FastifyRequest) => {
        if (!svc.opts.importMethods.includes('glance-direct')) throw notFound("'glance-direct' method is not available at this site.");
        await octetStreamOnly(req);
      },
      handler: async (req, reply) => {
        const size = declaredSize(req);
        const data = (req.body as Readable | undefined) ?? req.raw;
        await clientAborts(svc.stage(caller(req), req.params.image_id, data, size));
        reply.code(204);
      },
    },
  });

  resource(app, '/images/:image_id/import', {
    POST: async (req, reply) => {
      await svc.startImport(caller(req), req.params.image_id, body(req));
      reply.code(202).type('text/html; charset=UTF-8');
      return '';
    },
  });

  resource(app, '/images/:image_id/tags/:tag_value', {
    PUT: async (req, reply) => { await svc.addTag(caller(req), req.params.image_id, req.params.tag_value); reply.code(204); },
    DELETE: async (req, reply) => { await svc.deleteTag(caller(req), req.params.image_id, req.params.tag_value); reply.code(204); },
  });

  resource(app, '/images/:image_id/members', {
    GET: async (req) => ({
      members: (await svc.listMembers(caller(req), req.params.image_id)).map((m) => svc.memberView(m)),
      schema: '/v2/schemas/members',
    }),
    POST: async (req) => svc.memberView(await svc.addMember(caller(req), req.params.image_id, body(req))),
  });

  resource(app, '/images/:image_id/members/:member_id', {
    GET: { bodyReject: true, handler: async (req) => svc.memberView(await svc.showMember(caller(req), req.params.image_id, req.params.member_id)) },
    PUT: async (req) => svc.memberView(await svc.updateMember(caller(req), req.params.image_id, req.params.member_id, body(req))),
    DELETE: { bodyReject: true, handler: async (req, reply) => { await svc.deleteMember(caller(req), req.params.image_id, req.params.member_id); reply.code(204); } },
  });

  const schemas: Record<string, () => unknown> = {
    image: imageSchema, images: imagesSchema, member: memberSchema, members: membersSchema, task: taskSchema, tasks: tasksSchema,
  };
  for (const [name, fn] of Object.entries(schemas)) {
    resource(app, `/schemas/${name}`, { GET: { bodyReject: true, handler: async () => fn() } });
  }

  resource(app, '/info/import', {
    GET: async () => ({
      'import-methods': { description: 'Import methods this cloud offers.', type: 'array', value: svc.opts.importMethods },
    }),
  });
  const noMultiStore = async () => { throw notFound('Multi backend is not supported at this site.'); };
  resource(app, '/info/stores', { GET: noMultiStore });
  resource(app, '/info/stores/detail', { GET: noMultiStore });
  // Keystone unified limits are not used for images: Glance then reports no usage.
  resource(app, '/info/usage', { GET: async () => ({ usage: {} }) });
}

/**
 * The byte range asked for with Range (or, for old clients, Content-Range), as webob and Glance
 * parse them; inclusive bounds. 400 for multiple ranges, 416 for unsatisfiable ones.
 */
export function parseRange(req: FastifyRequest, size: number): { start: number; end: number } | null {
  const r = req.headers.range;
  if (r !== undefined) {
    if (r.includes(',')) {
      throw badRequest('Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.');
    }
    const m = /^bytes *= *(\d*) *- *(\d*)/i.exec(r);
    let start: number, endExcl: number | null;
    if (!m || (m[1] === '' && m[2] === '')) throw glanceError(416, 'Invalid Range header.');
    if (m[1] === '') { start = -Number(m[2]); endExcl = null; }
    else {
      start = Number(m[1]);
      endExcl = m[2] === '' ? null : Number(m[2]) + 1;
      if (endExcl !== null && start >= endExcl) throw glanceError(416, 'Invalid Range header.');
    }
    if (start >= size) {
      throw glanceError(416, `Invalid start position in Range header. Start position MUST be in the inclusive range [0, ${size - 1}].`);
    }
    let offset = 0;
    if (start >= 0) offset = start;
    else if (Math.abs(start) < size) offset = size + start;
    const end = endExcl !== null && endExcl < size ? endExcl - 1 : size - 1;
    return { start: offset, end };
  }
  const cr = req.headers['content-range'];
  if (cr !== undefined) {
    const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(String(cr).trim());
    if (!m || Number(m[1]) > Number(m[2])) throw glanceError(416, 'Invalid Content-Range header.');
    const start = Number(m[1]), stop = Number(m[2]) + 1;
    if (m[3] === '*' && stop > size) {
      throw glanceError(416, `Invalid stop position in Content-Range header. The stop position MUST be in the inclusive range [0, ${size - 1}].`);
    }
    if (start >= size) {
      throw glanceError(416, `Invalid start position in Content-Range header. Start position MUST be in the inclusive range [0, ${size - 1}].`);
    }
    return { start, end: Math.min(stop, size) - 1 };
  }
  return null;
}
