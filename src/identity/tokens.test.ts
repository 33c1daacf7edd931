// Token issue, validation and revocation through HTTP: every auth method and scope, the token
// body and catalog, X-Auth-Token vs X-Subject-Token, nocatalog, rescoping, revocation by every
// change that takes access away, and Fernet key rotation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCloud, login, session, type TestCloud, type Session } from '../testing.ts';
import { keystoneOf } from './index.ts';

let cloud: TestCloud;
let admin: Session;

before(async () => {
  cloud = await startTestCloud();
  admin = await login(cloud, 'admin');
});
after(async () => { await cloud?.close(); });

async function post(body: unknown, qs = ''): Promise<{ status: number; body: any; token: string | null; headers: Headers }> {
  const r = await fetch(`${cloud.url}/identity/v3/auth/tokens${qs}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null, token: r.headers.get('x-subject-token'), headers: r.headers };
}

const password = (user: Record<string, unknown>, pw: string) => ({ identity: { methods: ['password'], password: { user: { ...user, password: pw } } } });

/** Creates a user with the member role on a new project; returns ids and a login function. */
async function newMember(tag: string) {
  const p = await admin.json('POST', '/identity/v3/projects', { project: { name: `p-${tag}` } });
  assert.equal(p.status, 201, JSON.stringify(p.body));
  const u = await admin.json('POST', '/identity/v3/users', { user: { name: `u-${tag}`, password: 'pw-' + tag } });
  assert.equal(u.status, 201, JSON.stringify(u.body));
  const roles = await admin.json('GET', '/identity/v3/roles?name=member');
  const member = roles.body.roles[0].id;
  assert.equal((await admin.request('PUT', `/identity/v3/projects/${p.body.project.id}/users/${u.body.user.id}/roles/${member}`)).status, 204);
  return {
    projectId: p.body.project.id as string, userId: u.body.user.id as string, memberRole: member as string,
    login: () => login(cloud, `u-${tag}`, 'pw-' + tag, `p-${tag}`),
  };
}

async function validates(token: string): Promise<number> {
  return (await admin.request('GET', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': token })).status;
}

test('password auth scoped to a project: 201, X-Subject-Token, Keystone token body with catalog', async () => {
  const r = await post({ auth: { ...password({ name: 'admin', domain: { id: 'default' } }, cloud.config.adminPassword), scope: { project: { name: 'admin', domain: { name: 'Default' } } } } });
  assert.equal(r.status, 201);
  assert.ok(r.token && r.token.length < 1000);
  const t = r.body.token;
  assert.deepEqual(t.methods, ['password']);
  assert.equal(t.user.name, 'admin');
  assert.deepEqual(t.user.domain, { id: 'default', name: 'Default' });
  assert.equal(t.user.password_expires_at, null);
  assert.equal(t.project.name, 'admin');
  assert.deepEqual(t.project.domain, { id: 'default', name: 'Default' });
  assert.equal(t.is_domain, false);
  assert.equal(t.is_admin_project, true);
  assert.deepEqual(t.roles.map((x: any) => x.name).sort(), ['admin', 'member', 'reader'], 'implied roles included');
  assert.equal(t.audit_ids.length, 1);
  assert.match(t.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.ok(Date.parse(t.expires_at) - Date.parse(t.issued_at) === cloud.config.tokenExpirationSec * 1000);
  const types = t.catalog.map((s: any) => s.type);
  for (const want of ['identity', 'compute', 'image']) assert.ok(types.includes(want), `catalog has ${want}`);
  const identity = t.catalog.find((s: any) => s.type === 'identity');
  assert.equal(identity.name, 'keystone');
  assert.deepEqual(identity.endpoints.map((e: any) => e.interface).sort(), ['admin', 'internal', 'public']);
  for (const e of identity.endpoints) {
    assert.equal(e.url, `${cloud.url}/identity/v3`);
    assert.equal(e.region_id, cloud.config.region);
    assert.equal(e.region, cloud.config.region);
  }
  // ?nocatalog leaves the catalog out.
  const nc = await post({ auth: { ...password({ name: 'admin', domain: { id: 'default' } }, cloud.config.adminPassword), scope: { project: { name: 'admin', domain: { id: 'default' } } } } }, '?nocatalog');
  assert.equal(nc.body.token.catalog, undefined);
});

test('user by id, unscoped, domain and system scope', async () => {
  const adminId = admin.body.token.user.id;
  const unscoped = await post({ auth: password({ id: adminId }, cloud.config.adminPassword) });
  assert.equal(unscoped.status, 201);
  assert.equal(unscoped.body.token.project, undefined);
  assert.equal(unscoped.body.token.roles, undefined);
  assert.equal(unscoped.body.token.catalog, undefined);
  const explicit = await post({ auth: { ...password({ id: adminId }, cloud.config.adminPassword), scope: 'unscoped' } });
  assert.equal(explicit.status, 201);
  assert.equal(explicit.body.token.project, undefined);

  const sys = await post({ auth: { ...password({ id: adminId }, cloud.config.adminPassword), scope: { system: { all: true } } } });
  assert.equal(sys.status, 201);
  assert.deepEqual(sys.body.token.system, { all: true });
  assert.ok(sys.body.token.roles.some((r: any) => r.name === 'admin'));
  assert.ok(Array.isArray(sys.body.token.catalog));
  const demoSys = await post({ auth: { ...password({ name: 'demo', domain: { name: 'Default' } }, cloud.config.demoPassword), scope: { system: { all: true } } } });
  assert.equal(demoSys.status, 401);

  // Domain scope needs a role on the domain.
  const noDomainRole = await post({ auth: { ...password({ id: adminId }, cloud.config.adminPassword), scope: { domain: { id: 'default' } } } });
  assert.equal(noDomainRole.status, 401);
  const roles = await admin.json('GET', '/identity/v3/roles?name=admin');
  assert.equal((await admin.request('PUT', `/identity/v3/domains/default/users/${adminId}/roles/${roles.body.roles[0].id}`)).status, 204);
  const dom = await post({ auth: { ...password({ id: adminId }, cloud.config.adminPassword), scope: { domain: { name: 'Default' } } } });
  assert.equal(dom.status, 201);
  assert.deepEqual(dom.body.token.domain, { id: 'default', name: 'Default' });
  // A domain-scoped token works against the API: the domain admin lists users of its domain.
  const users = await session(cloud, dom.token!).json('GET', '/identity/v3/users');
  assert.equal(users.status, 200);
  assert.ok(users.body.users.every((u: any) => u.domain_id === 'default'));
  assert.equal((await admin.request('DELETE', `/identity/v3/domains/default/users/${adminId}/roles/${roles.body.roles[0].id}`)).status, 204);
});

test('default project scoping and "no access to project"', async () => {
  const m = await newMember('defproj');
  await admin.json('PATCH', `/identity/v3/users/${m.userId}`, { user: { default_project_id: m.projectId } });
  const r = await post({ auth: password({ id: m.userId }, 'pw-defproj') });
  assert.equal(r.status, 201);
  assert.equal(r.body.token.project.id, m.projectId, 'scoped to the default project');
  const noAccess = await post({ auth: { ...password({ id: m.userId }, 'pw-defproj'), scope: { project: { name: 'admin', domain: { id: 'default' } } } } });
  assert.equal(noAccess.status, 401);
  assert.equal(noAccess.body.error.code, 401);
  assert.equal(noAccess.body.error.title, 'Unauthorized');
  assert.match(noAccess.headers.get('www-authenticate') ?? '', /^Keystone uri=/);
});

test('bad credentials and bad requests', async () => {
  const cases: Array<[unknown, number]> = [
    [password({ name: 'admin', domain: { id: 'default' } }, 'wrong'), 401],
    [password({ name: 'nobody', domain: { id: 'default' } }, 'x'), 401],
    [password({ id: 'nope' }, 'x'), 401],
    [password({ name: 'admin', domain: { name: 'NoSuchDomain' } }, 'x'), 401],
    [password({ name: 'admin' }, cloud.config.adminPassword), 400],
    [{ identity: { methods: ['password'], password: { user: { password: 'x' } } } }, 400],
    [{ identity: { methods: ['password'] } }, 400],
    [{ identity: { methods: ['kerberos'], kerberos: {} } }, 401],
    [{ identity: { methods: 'password' } }, 400],
    [{ identity: {} }, 400],
    [{ ...password({ name: 'admin', domain: { id: 'default' } }, cloud.config.adminPassword), scope: { project: { name: 'admin' } } }, 400],
    [{ ...password({ name: 'admin', domain: { id: 'default' } }, cloud.config.adminPassword), scope: { project: { id: 'nope' } } }, 401],
    [{ ...password({ name: 'admin', domain: { id: 'default' } }, cloud.config.adminPassword), scope: { project: { id: 'x' }, domain: { id: 'default' } } }, 400],
    [{ ...password({ name: 'admin', domain: { id: 'default' } }, cloud.config.adminPassword), scope: 'everything' }, 400],
    [{ ...password({ name: 'admin', domain: { id: 'default' } }, cloud.config.adminPassword), scope: { system: { all: 'yes' } } }, 400],
  ];
  for (const [auth, status] of cases) {
    const r = await post({ auth });
    assert.equal(r.status, status, JSON.stringify(auth));
    assert.equal(r.body.error.code, status);
    assert.equal(r.token, null);
  }
  assert.equal((await post('{"auth": ')).status, 400);
  assert.equal((await post({})).status, 400);
  assert.equal((await post([])).status, 400);
  const r = await post('{"auth": ');
  assert.equal(r.body.error.title, 'Bad Request');
});

test('GET/HEAD/DELETE /auth/tokens: subject vs caller, policy, 404 for bad subjects', async () => {
  const m = await newMember('validate');
  const user = await m.login();
  const other = await newMember('validate2');
  const otherSession = await other.login();

  // A user may validate its own token; the body equals the one from POST.
  const own = await user.json('GET', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': user.token });
  assert.equal(own.status, 200);
  assert.equal(own.headers.get('x-subject-token'), user.token);
  assert.deepEqual(own.body, user.body);
  const nocat = await user.json('GET', '/identity/v3/auth/tokens?nocatalog', undefined, { 'X-Subject-Token': user.token });
  assert.equal(nocat.body.token.catalog, undefined);
  assert.equal((await user.request('HEAD', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': user.token })).status, 200);
  // ... but not someone else's.
  assert.equal((await user.request('GET', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': otherSession.token })).status, 403);
  assert.equal((await user.request('DELETE', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': otherSession.token })).status, 403);
  // The admin may.
  assert.equal(await validates(otherSession.token), 200);
  // Garbage, missing subject: 404. Garbage caller token: 401.
  assert.equal(await validates('gAAAAABnot-a-token'), 404);
  assert.equal((await admin.request('GET', '/identity/v3/auth/tokens')).status, 404);
  const bad = await session(cloud, 'garbage').json('GET', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': user.token });
  assert.equal(bad.status, 401);
  assert.equal((await fetch(`${cloud.url}/identity/v3/auth/tokens`, { headers: { 'X-Subject-Token': user.token } })).status, 401);

  // Revoking one token leaves the user's other tokens alone.
  const second = await m.login();
  assert.equal((await user.request('DELETE', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': user.token })).status, 204);
  assert.equal(await validates(user.token), 404);
  assert.equal((await admin.request('HEAD', '/identity/v3/auth/tokens', undefined, { 'X-Subject-Token': user.token })).status, 404);
  assert.equal(await validates(second.token), 200);
  // The revoked token no longer authenticates anything, in any service.
  assert.equal((await user.request('GET', '/identity/v3/auth/projects')).status, 401);
  await assert.rejects(cloud.ctx.tokens.validate(user.token), (e: any) => e.status === 401);
  const ctx = await cloud.ctx.tokens.validate(second.token);
  assert.equal(ctx.userId, m.userId);
  assert.equal(ctx.projectId, m.projectId);
  assert.deepEqual([...ctx.roles].sort(), ['member', 'reader']);
});

test('token method: rescoping keeps expiry and audit chain; app-cred and system tokens are limited', async () => {
  const adminId = admin.body.token.user.id;
  const unscoped = await post({ auth: password({ id: adminId }, cloud.config.adminPassword) });
  const rescoped = await post({ auth: { identity: { methods: ['token'], token: { id: unscoped.token } }, scope: { project: { name: 'demo', domain: { id: 'default' } } } } });
  assert.equal(rescoped.status, 401, 'admin has no role on demo');
  const toAdmin = await post({ auth: { identity: { methods: ['token'], token: { id: unscoped.token } }, scope: { project: { name: 'admin', domain: { id: 'default' } } } } });
  assert.equal(toAdmin.status, 201);
  const t = toAdmin.body.token;
  assert.deepEqual([...t.methods].sort(), ['password', 'token']);
  assert.equal(t.expires_at, unscoped.body.token.expires_at);
  assert.equal(t.audit_ids.length, 2);
  assert.equal(t.audit_ids[1], unscoped.body.token.audit_ids[0]);
  // Rescoping again keeps the chain root.
  const again = await post({ auth: { identity: { methods: ['token'], token: { id: toAdmin.token } }, scope: { system: { all: true } } } });
  assert.equal(again.status, 201);
  assert.equal(again.body.token.audit_ids[1], unscoped.body.token.audit_ids[0]);
  // A system token cannot become a project token.
  const fromSys = await post({ auth: { identity: { methods: ['token'], token: { id: again.token } }, scope: { project: { name: 'admin', domain: { id: 'default' } } } } });
  assert.equal(fromSys.status, 403);
  // An invalid token: 404, as Keystone's token method.
  assert.equal((await post({ auth: { identity: { methods: ['token'], token: { id: 'gAAAAAB-nope' } } } })).status, 404);
  assert.equal((await post({ auth: { identity: { methods: ['token'], token: {} } } })).status, 400);
});

test('application credentials: create, authenticate by id and by name, roles, expiry, delete', async () => {
  const m = await newMember('appcred');
  const user = await m.login();
  const base = `/identity/v3/users/${m.userId}/application_credentials`;
  const c = await user.json('POST', base, { application_credential: { name: 'ci', description: 'for CI' } });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const cred = c.body.application_credential;
  assert.ok(cred.secret.length >= 64);
  assert.equal(cred.project_id, m.projectId);
  assert.deepEqual(cred.roles.map((r: any) => r.name).sort(), ['member', 'reader']);
  const shown = await user.json('GET', `${base}/${cred.id}`);
  assert.equal(shown.body.application_credential.secret, undefined);

  const byId = await post({ auth: { identity: { methods: ['application_credential'], application_credential: { id: cred.id, secret: cred.secret } } } });
  assert.equal(byId.status, 201, JSON.stringify(byId.body));
  assert.equal(byId.body.token.project.id, m.projectId);
  assert.deepEqual(byId.body.token.application_credential, { id: cred.id, name: 'ci', restricted: true });
  assert.deepEqual(byId.body.token.methods, ['application_credential']);
  const byName = await post({ auth: { identity: { methods: ['application_credential'], application_credential: { name: 'ci', user: { name: 'u-appcred', domain: { id: 'default' } }, secret: cred.secret } } } });
  assert.equal(byName.status, 201);
  const wrong = await post({ auth: { identity: { methods: ['application_credential'], application_credential: { id: cred.id, secret: 'nope' } } } });
  assert.equal(wrong.status, 401);
  const scoped = await post({ auth: { identity: { methods: ['application_credential'], application_credential: { id: cred.id, secret: cred.secret } }, scope: { project: { id: m.projectId } } } });
  assert.equal(scoped.status, 401, 'application credentials cannot request a scope');

  // A restricted application credential cannot make more of them.
  const appSession = session(cloud, byId.token!);
  assert.equal((await appSession.json('POST', base, { application_credential: { name: 'more' } })).status, 403);

  // Only roles the caller holds can be delegated; a subset can.
  const adminRole = (await admin.json('GET', '/identity/v3/roles?name=admin')).body.roles[0];
  assert.equal((await user.json('POST', base, { application_credential: { name: 'escalate', roles: [{ id: adminRole.id }] } })).status, 400);
  const readerOnly = await user.json('POST', base, { application_credential: { name: 'ro', roles: [{ name: 'reader' }], secret: 'my-own-secret' } });
  assert.equal(readerOnly.status, 201);
  assert.equal(readerOnly.body.application_credential.secret, 'my-own-secret');
  const ro = await post({ auth: { identity: { methods: ['application_credential'], application_credential: { id: readerOnly.body.application_credential.id, secret: 'my-own-secret' } } } });
  assert.deepEqual(ro.body.token.roles.map((r: any) => r.name), ['reader']);
  const memberOnly = await user.json('POST', base, { application_credential: { name: 'mo', roles: [{ name: 'member' }], secret: 's' } });
  const mo = await post({ auth: { identity: { methods: ['application_credential'], application_credential: { id: memberOnly.body.application_credential.id, secret: 's' } } } });
  assert.deepEqual(mo.body.token.roles.map((r: any) => r.name).sort(), ['member', 'reader'], 'implied roles come along');

  // Duplicates, bad input, others' credentials.
  assert.equal((await user.json('POST', base, { application_credential: { name: 'ci' } })).status, 409);
  assert.equal((await user.json('POST', base, { application_credential: {} })).status, 400);
  assert.equal((await user.json('POST', base, { application_credential: { name: 'x', unknown: 1 } })).status, 400);
  assert.equal((await user.json('POST', base, { application_credential: { name: 'x', expires_at: '2001-01-01T00:00:00' } })).status, 400);
  assert.equal((await user.json('POST', base, { application_credential: { name: 'x', expires_at: 'tomorrow' } })).status, 400);
  assert.equal((await user.json('POST', `/identity/v3/users/${admin.body.token.user.id}/application_credentials`, { application_credential: { name: 'x' } })).status, 403);

  // expires_at is echoed the way Keystone does (UTC, no zone, microseconds kept).
  const soon = new Date(Date.now() + 3600_000).toISOString().replace('Z', '123');
  const exp = await user.json('POST', base, { application_credential: { name: 'exp', expires_at: soon } });
  assert.equal(exp.status, 201);
  assert.equal(exp.body.application_credential.expires_at, soon);

  const list = await user.json('GET', `${base}?name=ci`);
  assert.deepEqual(list.body.application_credentials.map((x: any) => x.name), ['ci']);
  // Deleting it ends its tokens.
  assert.equal((await user.request('DELETE', `${base}/${cred.id}`)).status, 204);
  assert.equal(await validates(byId.token!), 404);
  assert.equal((await post({ auth: { identity: { methods: ['application_credential'], application_credential: { id: cred.id, secret: cred.secret } } } })).status, 404);
  assert.equal((await user.request('DELETE', `${base}/${cred.id}`)).status, 404);
});

test('application credentials follow the user\'s roles: removed grants limit them, role deletion and user disabling delete them', async () => {
  const m = await newMember('appcred-life');
  const custom = (await admin.json('POST', '/identity/v3/roles', { role: { name: 'appcred-life-role' } })).body.role;
  await admin.request('PUT', `/identity/v3/projects/${m.projectId}/users/${m.userId}/roles/${custom.id}`);
  const user = await m.login();
  const base = `/identity/v3/users/${m.userId}/application_credentials`;
  const mk = async (name: string, roles: string[]) => {
    const r = await user.json('POST', base, { application_credential: { name, roles: roles.map((n) => ({ name: n })) } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.application_credential;
  };
  const auth = (c: any) => post({ auth: { identity: { methods: ['application_credential'], application_credential: { id: c.id, secret: c.secret } } } });
  const both = await mk('both', ['member', 'appcred-life-role']);
  const memberOnly = await mk('member-only', ['member']);
  const bothToken = (await auth(both)).token!;

  // Removing the member grant: the credential keeps working with what is left.
  assert.equal((await admin.request('DELETE', `/identity/v3/projects/${m.projectId}/users/${m.userId}/roles/${m.memberRole}`)).status, 204);
  assert.equal(await validates(bothToken), 404, 'its tokens carried the member role');
  const left = await auth(both);
  assert.equal(left.status, 201);
  assert.deepEqual(left.body.token.roles.map((r: any) => r.name), ['appcred-life-role']);
  assert.equal((await auth(memberOnly)).status, 401, 'nothing left to delegate');

  // Deleting the role deletes the credentials of users granted it on the project.
  assert.equal((await admin.request('DELETE', `/identity/v3/roles/${custom.id}`)).status, 204);
  assert.equal((await admin.json('GET', `${base}/${both.id}`)).status, 404);
  assert.equal(await validates(left.token!), 404);

  // Disabling the user deletes all of them.
  await admin.request('PUT', `/identity/v3/projects/${m.projectId}/users/${m.userId}/roles/${m.memberRole}`);
  const again = await (await m.login()).json('POST', base, { application_credential: { name: 'again' } });
  assert.equal(again.status, 201);
  await admin.json('PATCH', `/identity/v3/users/${m.userId}`, { user: { enabled: false } });
  assert.deepEqual((await admin.json('GET', base)).body.application_credentials, []);
});

test('revocation: user disabled, password changed, user deleted', async () => {
  const m = await newMember('rev-user');
  let s = await m.login();
  assert.equal(await validates(s.token), 200);
  await admin.json('PATCH', `/identity/v3/users/${m.userId}`, { user: { enabled: false } });
  assert.equal(await validates(s.token), 404);
  assert.equal((await post({ auth: password({ id: m.userId }, 'pw-rev-user') })).status, 401);
  await admin.json('PATCH', `/identity/v3/users/${m.userId}`, { user: { enabled: true } });
  s = await m.login();
  // Self-service password change needs the original password and ends the old tokens.
  const change = (original: string) => fetch(`${cloud.url}/identity/v3/users/${m.userId}/password`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: { original_password: original, password: 'pw-rev-user-2' } }),
  });
  assert.equal((await change('wrong')).status, 401);
  assert.equal(await validates(s.token), 200);
  assert.equal((await change('pw-rev-user')).status, 204);
  assert.equal(await validates(s.token), 404);
  assert.equal((await post({ auth: password({ id: m.userId }, 'pw-rev-user') })).status, 401);
  const fresh = await post({ auth: password({ id: m.userId }, 'pw-rev-user-2') });
  assert.equal(fresh.status, 201);
  assert.equal((await admin.request('DELETE', `/identity/v3/users/${m.userId}`)).status, 204);
  assert.equal(await validates(fresh.token!), 404);
});

test('revocation: project disabled or deleted, role removed, role deleted, group membership removed, domain disabled', async () => {
  const a = await newMember('rev-proj');
  const sa = await a.login();
  await admin.json('PATCH', `/identity/v3/projects/${a.projectId}`, { project: { enabled: false } });
  assert.equal(await validates(sa.token), 404);
  assert.equal((await post({ auth: { ...password({ id: a.userId }, 'pw-rev-proj'), scope: { project: { id: a.projectId } } } })).status, 401);

  const b = await newMember('rev-role');
  const sb = await b.login();
  const unscopedB = await post({ auth: password({ id: b.userId }, 'pw-rev-role') });
  assert.equal((await admin.request('DELETE', `/identity/v3/projects/${b.projectId}/users/${b.userId}/roles/${b.memberRole}`)).status, 204);
  assert.equal(await validates(sb.token), 404);
  assert.equal(await validates(unscopedB.token!), 200, 'an unscoped token carries no role and stays valid');
  assert.equal((await admin.request('DELETE', `/identity/v3/projects/${b.projectId}/users/${b.userId}/roles/${b.memberRole}`)).status, 404);

  const c = await newMember('rev-roledel');
  const custom = await admin.json('POST', '/identity/v3/roles', { role: { name: 'custom-rev' } });
  await admin.request('PUT', `/identity/v3/projects/${c.projectId}/users/${c.userId}/roles/${custom.body.role.id}`);
  const sc = await c.login();
  assert.ok(sc.body.token.roles.some((r: any) => r.name === 'custom-rev'));
  const other = await newMember('rev-roledel-other');
  const so = await other.login();
  assert.equal((await admin.request('DELETE', `/identity/v3/roles/${custom.body.role.id}`)).status, 204);
  assert.equal(await validates(sc.token), 404);
  assert.equal(await validates(so.token), 200, 'tokens without the role are untouched');

  // Roles held through a group end when the membership ends.
  const g = await admin.json('POST', '/identity/v3/groups', { group: { name: 'rev-group' } });
  const d = await newMember('rev-group');
  await admin.request('DELETE', `/identity/v3/projects/${d.projectId}/users/${d.userId}/roles/${d.memberRole}`);
  await admin.request('PUT', `/identity/v3/projects/${d.projectId}/groups/${g.body.group.id}/roles/${d.memberRole}`);
  await admin.request('PUT', `/identity/v3/groups/${g.body.group.id}/users/${d.userId}`);
  const sd = await d.login();
  assert.equal(sd.body.token.project.id, d.projectId);
  assert.equal((await admin.request('DELETE', `/identity/v3/groups/${g.body.group.id}/users/${d.userId}`)).status, 204);
  assert.equal(await validates(sd.token), 404);
  await assert.rejects(d.login());

  // Disabling a domain ends the tokens of its users and projects.
  const dom = await admin.json('POST', '/identity/v3/domains', { domain: { name: 'rev-domain' } });
  const domId = dom.body.domain.id;
  const p = await admin.json('POST', '/identity/v3/projects', { project: { name: 'dp', domain_id: domId } });
  const u = await admin.json('POST', '/identity/v3/users', { user: { name: 'du', domain_id: domId, password: 'pw' } });
  await admin.request('PUT', `/identity/v3/projects/${p.body.project.id}/users/${u.body.user.id}/roles/${d.memberRole}`);
  const du = await login(cloud, 'du', 'pw', 'dp', 'rev-domain');
  await admin.json('PATCH', `/identity/v3/domains/${domId}`, { domain: { enabled: false } });
  assert.equal(await validates(du.token), 404);
  await assert.rejects(login(cloud, 'du', 'pw', 'dp', 'rev-domain'));
});

test('revocations reach the validation cache of a token validated before', async () => {
  // Validate many times (cached), then revoke: the next check must see it.
  const m = await newMember('cache');
  const s = await m.login();
  for (let i = 0; i < 5; i++) assert.equal((await cloud.ctx.tokens.validate(s.token)).userId, m.userId);
  await admin.json('PATCH', `/identity/v3/users/${m.userId}`, { user: { enabled: false } });
  await assert.rejects(cloud.ctx.tokens.validate(s.token));
});

test('Fernet key rotation: tokens made with the previous primary key still validate', async () => {
  const before = await login(cloud, 'admin');
  const ks = keystoneOf(cloud.ctx);
  const oldPrimary = ks.fernet.primaryIndex;
  ks.fernet.rotate();
  assert.equal(ks.fernet.primaryIndex, oldPrimary + 1);
  const after1 = await login(cloud, 'admin');
  assert.equal(await validates(before.token), 200);
  assert.equal(await validates(after1.token), 200);
  ks.fernet.rotate();
  // With three active keys, the key two rotations back is gone and so are its tokens.
  assert.equal(await validates(after1.token), 200);
  const r = await session(cloud, before.token).json('GET', '/identity/v3/auth/projects');
  assert.equal(r.status, 200, 'cached tokens stay valid until their expiry');
});

test('auth/catalog, auth/projects, auth/domains, auth/system', async () => {
  const cat = await admin.json('GET', '/identity/v3/auth/catalog');
  assert.equal(cat.status, 200);
  assert.deepEqual(cat.body.catalog, admin.body.token.catalog);
  const m = await newMember('authlists');
  const s = await m.login();
  const ps = await s.json('GET', '/identity/v3/auth/projects');
  assert.deepEqual(ps.body.projects.map((p: any) => p.id), [m.projectId]);
  assert.deepEqual((await s.json('GET', '/identity/v3/auth/domains')).body.domains, []);
  assert.deepEqual((await s.json('GET', '/identity/v3/auth/system')).body.system, []);
  assert.deepEqual((await admin.json('GET', '/identity/v3/auth/system')).body.system, [{ all: true }]);
  const unscoped = await post({ auth: password({ id: m.userId }, 'pw-authlists') });
  assert.equal((await session(cloud, unscoped.token!).json('GET', '/identity/v3/auth/catalog')).status, 403);
  assert.equal((await session(cloud, unscoped.token!).json('GET', '/identity/v3/auth/projects')).status, 200);
});

test('version discovery', async () => {
  const root = await fetch(`${cloud.url}/identity`);
  assert.equal(root.status, 300);
  const body = await root.json() as any;
  const v3 = body.versions.values.find((v: any) => v.id.startsWith('v3'));
  assert.ok(v3);
  for (const k of ['id', 'links', 'media-types', 'status', 'updated']) assert.ok(k in v3);
  assert.equal((await fetch(`${cloud.url}/identity/`)).status, 300);
  const one = await fetch(`${cloud.url}/identity/v3`);
  assert.equal(one.status, 200);
  const doc = await one.json() as any;
  assert.equal(doc.version.status, 'stable');
  assert.deepEqual(doc.version['media-types'], [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }]);
  assert.equal(doc.version.links[0].href, `${cloud.url}/identity/v3/`);
  const missing = await fetch(`${cloud.url}/identity/v3/nothing-here`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: { code: 404, message: 'The resource could not be found.', title: 'Not Found' } });
});
