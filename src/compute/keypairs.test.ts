// Key pairs through HTTP: generate (RSA 2048, usable by ssh-keygen), import ssh and x509 keys
// with Nova's fingerprints, microversion differences (2.2 type/201/204, 2.10 user_id, 2.35 paging),
// per-user isolation, validation and the key_pairs quota.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { login } from '../testing.ts';
import { computeTestEnv, V } from './test_helpers.ts';

const env = computeTestEnv();

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl someone@example';


const md5Colon = (blob: Buffer) => createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');

test('generate a key pair: private key returned once, fingerprint of the public blob', async () => {
  const r = await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'gen' } }, V('2.2'));
  assert.equal(r.status, 201);
  const k = r.body.keypair;
  assert.match(k.private_key, /^-----BEGIN RSA PRIVATE KEY-----/);
  assert.match(k.public_key, /^ssh-rsa \S+ Generated-by-Nova$/);
  assert.equal(k.type, 'ssh');
  assert.equal(k.user_id, env.demoUser);
  assert.equal(k.fingerprint, md5Colon(Buffer.from(k.public_key.split(' ')[1], 'base64')));

  const show = await env.demo.json('GET', '/compute/v2.1/os-keypairs/gen', undefined, V('2.2'));
  assert.equal(show.status, 200);
  assert.equal(show.body.keypair.private_key, undefined);
  assert.equal(show.body.keypair.public_key, k.public_key);
  assert.equal(show.body.keypair.deleted, false);
  assert.equal(typeof show.body.keypair.id, 'number');
  assert.match(show.body.keypair.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);

  // 2.1: 200 on create, no type; 202 on delete.
  const old = await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'old-style' } });
  assert.equal(old.status, 200);
  assert.equal('type' in old.body.keypair, false);
  assert.equal((await env.demo.request('DELETE', '/compute/v2.1/os-keypairs/old-style')).status, 202);
  assert.equal((await env.demo.request('DELETE', '/compute/v2.1/os-keypairs/gen', undefined, V('2.2'))).status, 204);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-keypairs/gen')).status, 404);
});

test('import ssh and x509 public keys', async () => {
  const r = await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'imported', public_key: ED25519 } });
  assert.equal(r.status, 200);
  assert.equal(r.body.keypair.fingerprint, md5Colon(Buffer.from(ED25519.split(' ')[1], 'base64')));
  assert.equal(r.body.keypair.private_key, undefined);

  // An x509 certificate: generate one through the API (as another key), then import it.
  const gen = await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'cert', type: 'x509' } }, V('2.2'));
  assert.equal(gen.status, 201);
  const cert = new X509Certificate(gen.body.keypair.public_key);
  assert.equal(cert.subject, `CN=${env.demoUser}`);
  assert.equal(gen.body.keypair.fingerprint, cert.fingerprint.toLowerCase());
  const imp = await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'cert2', type: 'x509', public_key: gen.body.keypair.public_key } }, V('2.2'));
  assert.equal(imp.status, 201);
  assert.equal(imp.body.keypair.fingerprint, gen.body.keypair.fingerprint);
  assert.equal(imp.body.keypair.type, 'x509');
  // type is unknown before 2.2
  assert.equal((await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'c3', type: 'x509' } })).status, 400);

  const list = await env.demo.json('GET', '/compute/v2.1/os-keypairs', undefined, V('2.2'));
  assert.deepEqual(list.body.keypairs.map((k: any) => k.keypair.name), ['cert', 'cert2', 'imported']);
  assert.deepEqual(Object.keys(list.body.keypairs[0].keypair).sort(), ['fingerprint', 'name', 'public_key', 'type']);
});

test('bad input and duplicates are rejected without writing', async () => {
  const bad: unknown[] = [
    {}, { keypair: {} }, { keypair: { name: '' } }, { keypair: { name: 'x'.repeat(256) } }, { keypair: { name: 'bad/name' } },
    { keypair: { name: 'key_/.\\@:' } }, { keypair: { name: ' lead' } }, { keypair: { name: 'k', public_key: 'ssh-rsa badkey' } },
    { keypair: { name: 'k', public_key: `ssh-rsa ${'A'.repeat(2048)} openstack@ubuntu` } }, { keypair: { name: 'k', public_key: '' } },
    { keypair: { name: 'k', public_key: 12 } }, { keypair: { name: 'k', extra: 1 } }, { keypair: { name: 'k', user_id: 'u' } },
  ];
  for (const b of bad) {
    const r = await env.demo.json('POST', '/compute/v2.1/os-keypairs', b);
    assert.equal(r.status, 400, JSON.stringify(b));
  }
  assert.equal((await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'k', type: 'pgp' } }, V('2.2'))).status, 400);
  assert.equal((await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'k', public_key: 'not a cert', type: 'x509' } }, V('2.2'))).status, 400);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-keypairs/k')).status, 404);

  assert.equal((await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'dup', public_key: ED25519 } })).status, 200);
  const dup = await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'dup', public_key: ED25519 } });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.conflictingRequest.message, "Key pair 'dup' already exists.");
  const missing = await env.demo.json('DELETE', '/compute/v2.1/os-keypairs/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.itemNotFound.message, `Keypair nope not found for user ${env.demoUser}`);
});

test('key pairs are per user; admins reach other users at 2.10', async () => {
  await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'mine', public_key: ED25519 } });
  assert.equal((await env.admin.json('GET', '/compute/v2.1/os-keypairs/mine')).status, 404);
  const other = await env.admin.json('GET', `/compute/v2.1/os-keypairs/mine?user_id=${env.demoUser}`, undefined, V('2.10'));
  assert.equal(other.status, 200);
  assert.equal(other.body.keypair.user_id, env.demoUser);
  // A member cannot look at someone else's keys.
  const adminUser = env.admin.body.token.user.id;
  assert.equal((await env.demo.json('GET', `/compute/v2.1/os-keypairs?user_id=${adminUser}`, undefined, V('2.10'))).status, 403);
  assert.equal((await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'x', user_id: adminUser } }, V('2.10'))).status, 403);
  // Admin creates for the demo user.
  const made = await env.admin.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'by-admin', user_id: env.demoUser, public_key: ED25519 } }, V('2.10'));
  assert.equal(made.status, 201);
  assert.equal(made.body.keypair.user_id, env.demoUser);
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-keypairs/by-admin')).status, 200);
  assert.equal((await env.admin.request('DELETE', `/compute/v2.1/os-keypairs/by-admin?user_id=${env.demoUser}`, undefined, V('2.10'))).status, 204);
});

test('paging at 2.35', async () => {
  const s = await login(env.cloud, 'admin');
  for (const n of ['p1', 'p2', 'p3']) await s.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: n, public_key: ED25519 } });
  const p = await s.json('GET', '/compute/v2.1/os-keypairs?limit=2', undefined, V('2.35'));
  assert.deepEqual(p.body.keypairs.map((k: any) => k.keypair.name), ['p1', 'p2']);
  assert.match(p.body.keypairs_links[0].href, /marker=p2/);
  const p2 = await s.json('GET', '/compute/v2.1/os-keypairs?limit=2&marker=p2', undefined, V('2.35'));
  assert.deepEqual(p2.body.keypairs.map((k: any) => k.keypair.name), ['p3']);
  assert.equal(p2.body.keypairs_links, undefined);
  assert.equal((await s.json('GET', '/compute/v2.1/os-keypairs?marker=zz', undefined, V('2.35'))).status, 400);
  assert.equal((await s.json('GET', '/compute/v2.1/os-keypairs?bogus=1', undefined, V('2.75'))).status, 400);
  // limit is ignored before 2.35.
  assert.equal((await s.json('GET', '/compute/v2.1/os-keypairs?limit=1')).body.keypairs.length, 3);
});

test('the key_pairs quota is enforced per user', async () => {
  const set = await env.admin.json('PUT', `/compute/v2.1/os-quota-sets/${env.demoProject}`, { quota_set: { key_pairs: 0 } });
  assert.equal(set.status, 200);
  const r = await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'over', public_key: ED25519 } });
  assert.equal(r.status, 403);
  assert.equal(r.body.forbidden.message, 'Quota exceeded, too many key pairs.');
  assert.equal((await env.demo.json('GET', '/compute/v2.1/os-keypairs/over')).status, 404);
  await env.admin.request('DELETE', `/compute/v2.1/os-quota-sets/${env.demoProject}`);
  assert.equal((await env.demo.json('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'over', public_key: ED25519 } })).status, 200);
});
