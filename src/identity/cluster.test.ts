// Two API processes on one database and one key repository (two clouds in this process sharing
// a data directory): tokens issued by one validate on the other, and a revocation written by one
// reaches the other's in-memory list when it re-reads the events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, session, type TestCloud } from '../testing.ts';
import { keystoneOf } from './index.ts';

let a: TestCloud;
let b: TestCloud;

before(async () => {
  a = await startTestCloud();
  b = await startTestCloud({ dataDir: a.config.dataDir, ...(a.ctx.db.dialect === 'sqlite' ? { databaseUrl: a.config.databaseUrl } : {}) });
});
after(async () => {
  await b?.close();
  await a?.close();
});

test('a token from one process works on the other; revocations propagate', async () => {
  const adminA = await login(a, 'admin');
  const onB = session(b, adminA.token);
  assert.equal((await onB.json('GET', '/identity/v3/auth/projects')).status, 200);
  // A user created on A can log in on B.
  const u = await adminA.json('POST', '/identity/v3/users', { user: { name: 'shared', password: 'pw' } });
  assert.equal(u.status, 201);
  const sharedOnB = await login(b, 'shared', 'pw', null);
  assert.equal((await session(a, sharedOnB.token).json('GET', '/identity/v3/auth/projects')).status, 200);
  // Validated (and cached) on B, then disabled through A.
  assert.equal((await b.ctx.tokens.validate(sharedOnB.token)).userId, u.body.user.id);
  assert.equal((await adminA.json('PATCH', `/identity/v3/users/${u.body.user.id}`, { user: { enabled: false } })).status, 200);
  await assert.rejects(a.ctx.tokens.validate(sharedOnB.token), 'A knows at once');
  // B learns it at its next periodic read of the events (run here without waiting for the timer).
  await keystoneOf(b.ctx).revocations.refresh();
  await assert.rejects(b.ctx.tokens.validate(sharedOnB.token), 'B knows after re-reading the events');
});

test('bootstrap is idempotent and its endpoints follow the public URL of the latest start', async () => {
  // B started second, on another port, over the same data: one of each account and service,
  // catalog URLs moved to B's address.
  const adminB = await login(b, 'admin');
  const users = (await adminB.json('GET', '/identity/v3/users?name=admin')).body.users;
  assert.equal(users.length, 1);
  const services = (await adminB.json('GET', '/identity/v3/services?type=identity')).body.services;
  assert.equal(services.length, 1);
  const eps = (await adminB.json('GET', `/identity/v3/endpoints?service_id=${services[0].id}`)).body.endpoints;
  assert.equal(eps.length, 3);
  for (const e of eps) assert.equal(e.url, `${b.url}/identity/v3`);
});

test('keys rotated by another process are picked up', async () => {
  const ka = keystoneOf(a.ctx), kb = keystoneOf(b.ctx);
  ka.fernet.rotate();
  // A's new tokens use a primary key B has only as its staged key: still valid there.
  const t = await login(a, 'admin');
  assert.equal((await b.ctx.tokens.validate(t.token)).userName, 'admin');
  ka.fernet.rotate();
  const t2 = await login(a, 'admin');
  // This primary key did not exist when B last read the repository: B re-reads it on demand.
  assert.equal((await b.ctx.tokens.validate(t2.token)).userName, 'admin');
  assert.equal(kb.fernet.primaryIndex, ka.fernet.primaryIndex);
});
