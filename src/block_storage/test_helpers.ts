// Helpers for the block storage tests: a cloud with admin and demo sessions, Cinder's URLs for a
// project, and volume creation that waits for the durable tasks to settle.
import assert from 'node:assert/strict';
import { login, startTestCloud, type Session, type TestCloud } from '../testing.ts';
import type { Config } from '../core/config.ts';

export interface Env {
  cloud: TestCloud;
  admin: Session;
  demo: Session;
  /** A member of a third project (alt_demo), for cross-project checks. */
  alt: Session;
  /** The demo, admin and alt_demo projects' ids. */
  demoProject: string;
  adminProject: string;
  altProject: string;
  imageId: string;
}

export async function setup(overrides: Partial<Config> = {}): Promise<Env> {
  const cloud = await startTestCloud(overrides);
  const admin = await login(cloud);
  const demo = await login(cloud, 'demo', cloud.config.demoPassword, 'demo');
  const alt = await login(cloud, 'alt_demo', cloud.config.demoPassword, 'alt_demo');
  const imgs = await admin.json('GET', '/image/v2/images?status=active');
  return {
    cloud, admin, demo, alt, demoProject: demo.body.token.project.id, adminProject: admin.body.token.project.id,
    altProject: alt.body.token.project.id, imageId: imgs.body.images[0].id,
  };
}

/** The Cinder v3 URL of `path` for the session's project. */
export const v3 = (s: Session, path: string) => `/volume/v3/${s.body.token.project.id}${path}`;

/** POST /volumes, asserting 202, then waits for the tasks; returns the volume as GET shows it. */
export async function makeVolume(env: Env, s: Session, volume: Record<string, unknown> = {}): Promise<any> {
  const r = await s.json('POST', v3(s, '/volumes'), { volume: { size: 1, ...volume } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await env.cloud.ctx.tasks.idle();
  return getVolume(s, r.body.volume.id);
}

export async function getVolume(s: Session, id: string): Promise<any> {
  const r = await s.json('GET', v3(s, `/volumes/${id}`));
  return r.status === 200 ? r.body.volume : { status: r.status === 404 ? 'deleted' : `http ${r.status}` };
}

/** POST /volumes/{id}/action with one action. */
export async function act(env: Env, s: Session, id: string, action: string, args: unknown = null) {
  const r = await s.json('POST', v3(s, `/volumes/${id}/action`), { [action]: args });
  await env.cloud.ctx.tasks.idle();
  return r;
}

/** The volume's VMDK in the simulator's inventory (GET /simulator/inventory as admin). */
export async function vmdkOf(env: Env, volumeId: string): Promise<any | undefined> {
  const r = await env.admin.json('GET', '/simulator/inventory');
  assert.equal(r.status, 200);
  return r.body.files.find((f: any) => f.kind === 'volume' && f.path.endsWith(`volume-${volumeId}.vmdk`));
}

/** A volume type (admin), with extra specs. */
export async function makeType(env: Env, name: string, extraSpecs: Record<string, string> = {}): Promise<any> {
  const r = await env.admin.json('POST', v3(env.admin, '/types'), { volume_type: { name, extra_specs: extraSpecs } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.volume_type;
}
