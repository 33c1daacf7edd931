// The HTTP core with a tiny service module defined here (the core is what is tested): body
// parsing, limits, the module's error format, unknown routes and request ids, over real HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { buildHttpServer, useErrorFormat } from './http.ts';
import { ApiError, conflict, HTTP_TITLES } from './errors.ts';
import type { Context, ServiceModule } from './service.ts';

const logged: string[] = [];
const ctx = { log: { info() {}, warn() {}, error: (m: string) => logged.push(m) } } as unknown as Context;

// A service in the style of Nova: {"<faultName>": {"code": ..., "message": ...}}.
const demo: ServiceModule = {
  name: 'demo',
  prefix: '/demo',
  migrations: [],
  async routes(app) {
    useErrorFormat(app, ctx, (e) => ({ body: { demoFault: { code: e.status, title: HTTP_TITLES[e.status], message: e.message } } }));
    app.post('/things', {
      schema: {
        body: {
          type: 'object', required: ['thing'], additionalProperties: false,
          properties: { thing: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 10 } } } },
        },
      },
    }, async (req, reply) => reply.code(201).send({ created: (req.body as any).thing.name }));
    app.delete('/things/:id', async (req, reply) => {
      assert.equal(req.body, undefined);
      return reply.code(204).send();
    });
    app.put('/anything', async (req) => ({ got: req.body ?? null }));
    app.get('/conflict', async () => { throw conflict('Thing is busy.'); });
    app.get('/retry', async () => { throw new ApiError(503, 'Try later.', { headers: { 'retry-after': '5' } }); });
    app.get('/bug', async () => { throw new TypeError('secret internal detail'); });
  },
};
// A second module with a different format: errors never leak between plugin scopes.
const other: ServiceModule = {
  name: 'other', prefix: '/other', migrations: [],
  async routes(app) {
    useErrorFormat(app, ctx, (e) => ({ body: `other says ${e.status}`, contentType: 'text/plain' }));
    app.get('/ok', async () => ({ ok: true }));
  },
};

let app: FastifyInstance;
let base = '';
before(async () => {
  app = buildHttpServer(ctx, [demo, other]);
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
after(() => app.close());

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const r = await fetch(base + path, { method, body, headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers });
  const text = await r.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, text, json, headers: r.headers };
}

test('a valid body reaches the route', async () => {
  const r = await call('POST', '/demo/things', JSON.stringify({ thing: { name: 'a' } }));
  assert.equal(r.status, 201);
  assert.deepEqual(r.json, { created: 'a' });
});

test('an empty body with Content-Type: application/json is accepted', async () => {
  assert.equal((await call('DELETE', '/demo/things/1', '')).status, 204);
  const r = await call('PUT', '/demo/anything', '');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { got: null });
});

test('malformed JSON is a 400 in the module\'s format', async () => {
  for (const body of ['{"thing": ', '{thing: 1}', 'null x', '\u0000']) {
    const r = await call('PUT', '/demo/anything', body);
    assert.equal(r.status, 400, body);
    assert.equal(r.json.demoFault.code, 400);
    assert.match(r.json.demoFault.message, /Malformed request body/);
  }
});

test('schema violations are 400s naming the field', async () => {
  let r = await call('POST', '/demo/things', JSON.stringify({ thing: { name: 42 } }));
  assert.equal(r.status, 400);
  assert.match(r.json.demoFault.message, /thing\.name/);
  r = await call('POST', '/demo/things', JSON.stringify({ thing: { name: 'x' }, extra: 1 }));
  assert.equal(r.status, 400);
  assert.match(r.json.demoFault.message, /'extra' was unexpected/);
  r = await call('POST', '/demo/things', '[]');
  assert.equal(r.status, 400);
});

test('a body over the limit is a 413 in the module\'s format', async () => {
  const huge = JSON.stringify({ thing: { name: 'x', pad: 'y'.repeat(1024 * 1024 + 10) } });
  const r = await call('POST', '/demo/things', huge);
  assert.equal(r.status, 413);
  assert.equal(r.json.demoFault.code, 413);

  // The same when the client lies about the length and streams it chunked.
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${base}/demo/anything`, { method: 'PUT', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.write('{"pad": "');
    for (let i = 0; i < 20; i++) req.write('z'.repeat(64 * 1024));
    req.end('"}');
  });
  assert.equal(status, 413);
});

test('an unsupported Content-Type is a 415 in the module\'s format', async () => {
  const r = await call('POST', '/demo/things', 'name=a', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.equal(r.status, 415);
  assert.equal(r.json.demoFault.code, 415);
});

test('unknown routes under a prefix are 404s in that module\'s format', async () => {
  let r = await call('GET', '/demo/no/such/thing');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, { demoFault: { code: 404, title: 'Not Found', message: 'The resource could not be found.' } });
  r = await call('GET', '/other/nothing');
  assert.equal(r.status, 404);
  assert.equal(r.text, 'other says 404');
  assert.match(r.headers.get('content-type')!, /^text\/plain/);
  // A trailing slash finds the route.
  assert.equal((await call('GET', '/other/ok/')).status, 200);
});

test('ApiErrors keep their status and headers; unexpected errors are logged 500s that hide details', async () => {
  let r = await call('GET', '/demo/conflict');
  assert.equal(r.status, 409);
  assert.deepEqual(r.json, { demoFault: { code: 409, title: 'Conflict', message: 'Thing is busy.' } });
  r = await call('GET', '/demo/retry');
  assert.equal(r.status, 503);
  assert.equal(r.headers.get('retry-after'), '5');
  r = await call('GET', '/demo/bug');
  assert.equal(r.status, 500);
  assert.equal(r.json.demoFault.code, 500);
  assert.doesNotMatch(r.text, /secret internal detail/);
  assert.ok(logged.some((m) => m.includes('/demo/bug')), 'the 500 is logged');
});

test('every response carries a unique x-openstack-request-id', async () => {
  const ids = new Set<string>();
  for (const [method, path, body] of [['GET', '/other/ok'], ['GET', '/demo/nope'], ['PUT', '/demo/anything', '{bad'], ['GET', '/nowhere']]) {
    const r = await call(method!, path!, body);
    const id = r.headers.get('x-openstack-request-id');
    assert.match(id ?? '', /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `${method} ${path}`);
    ids.add(id!);
  }
  assert.equal(ids.size, 4);
});
