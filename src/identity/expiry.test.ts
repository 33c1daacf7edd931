// Token expiry (a cloud with 1-second tokens): expired tokens stop authenticating, validate only
// with allow_expired, cannot be rescoped, and rescoped tokens keep the original expiry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestCloud, login, session, type TestCloud } from '../testing.ts';

let cloud: TestCloud;

before(async () => { cloud = await startTestCloud({ tokenExpirationSec: 1 }); });
after(async () => { await cloud?.close(); });

/** Waits until the instant has passed (plus a margin), however slow the machine. */
async function waitPast(iso: string) {
  const left = Date.parse(iso) - Date.now();
  if (left > -50) await sleep(left + 100);
}

test('expired tokens: 401 as caller, 404 as subject unless allow_expired, no rescoping', async () => {
  const old = await login(cloud, 'admin');
  assert.equal(Date.parse(old.body.token.expires_at) - Date.parse(old.body.token.issued_at), 1000);
  const rescoped = await fetch(`${cloud.url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['token'], token: { id: old.token } }, scope: { system: { all: true } } } }),
  });
  assert.equal(rescoped.status, 201);
  const rescopedBody = await rescoped.json() as any;
  assert.equal(rescopedBody.token.expires_at, old.body.token.expires_at);
  await waitPast(old.body.token.expires_at);

  assert.equal((await old.json('GET', '/identity/v3/auth/projects')).status, 401);
  await assert.rejects(cloud.ctx.tokens.validate(old.token), (e: any) => e.status === 401);
  // Each check with a caller token of its own: with 1-second tokens, a slow machine could see
  // a shared one expire midway.
  const check = async (qs: string) => (await login(cloud, 'admin')).request('GET', `/identity/v3/auth/tokens${qs}`, undefined, { 'X-Subject-Token': old.token });
  assert.equal((await check('')).status, 404);
  assert.equal((await check('?allow_expired=false')).status, 404);
  const allowed = await check('?allow_expired=true');
  assert.equal(allowed.status, 200);
  assert.equal(((await allowed.json()) as any).token.expires_at, old.body.token.expires_at);
  assert.equal((await check('?allow_expired=1')).status, 200);
  assert.equal((await session(cloud, rescoped.headers.get('x-subject-token')!).json('GET', '/identity/v3/auth/system')).status, 401);

  const again = await fetch(`${cloud.url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['token'], token: { id: old.token } } } }),
  });
  assert.equal(again.status, 404);

  // A revoked token stays invalid with allow_expired too.
  const fresh = await login(cloud, 'admin');
  assert.equal((await fresh.request('DELETE', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': fresh.token })).status, 204);
  const other = await login(cloud, 'admin');
  assert.equal((await other.request('GET', '/identity/v3/auth/tokens?allow_expired=true', undefined, { 'X-Subject-Token': fresh.token })).status, 404);
});
