// Helpers for the servers tests: a cloud with admin and demo sessions, the seeded image, and
// server creation that waits for the durable tasks to settle.
import assert from 'node:assert/strict';
import { login, startTestCloud, type Session, type TestCloud } from '../../testing.ts';
import type { Config } from '../../core/config.ts';

export interface Env {
  cloud: TestCloud;
  admin: Session;
  demo: Session;
  imageId: string;
}

export async function setup(overrides: Partial<Config> & Record<string, unknown> = {}): Promise<Env> {
  const cloud = await startTestCloud(overrides as Partial<Config>);
  const admin = await login(cloud);
  const demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  const imgs = await admin.json('GET', '/image/v2/images?status=active');
  assert.equal(imgs.status, 200);
  assert.ok(imgs.body.images.length, 'the seed provides an image');
  return { cloud, admin, demo, imageId: imgs.body.images[0].id };
}

/** Lifts the demo project's instance/cores/ram quotas for tests that boot many servers. */
export async function raiseQuota(env: Env, instances = 100) {
  const project = env.demo.body.token.project.id;
  const r = await env.admin.json('PUT', `/compute/v2.1/os-quota-sets/${project}`, { quota_set: { instances, cores: instances * 8, ram: instances * 16384 } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

export const mvh = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

/** POST /servers with defaults; returns the response. */
export async function createServer(env: Env, s: Session, server: Record<string, unknown> = {}, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
  return s.json('POST', '/compute/v2.1/servers', { server: { name: 'srv', imageRef: env.imageId, flavorRef: '1', ...server }, ...extra }, headers);
}

/** Creates a server and waits until its tasks are done; returns its id. */
export async function bootServer(env: Env, s: Session, server: Record<string, unknown> = {}): Promise<string> {
  const r = await createServer(env, s, server);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await env.cloud.ctx.tasks.idle();
  return r.body.server.id;
}

export async function show(s: Session, id: string, v = '2.79') {
  return s.json('GET', `/compute/v2.1/servers/${id}`, undefined, mvh(v));
}

/** POST an action, wait for the tasks, return the action response. */
export async function act(env: Env, s: Session, id: string, body: unknown, v = '2.1') {
  const r = await s.json('POST', `/compute/v2.1/servers/${id}/action`, body, mvh(v));
  await env.cloud.ctx.tasks.idle();
  return r;
}

export async function statusOf(s: Session, id: string): Promise<string> {
  const r = await show(s, id);
  return r.status === 404 ? 'DELETED' : r.body.server.status;
}
