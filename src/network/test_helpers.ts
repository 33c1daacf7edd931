// Helpers for the Neutron tests: one cloud per test file with admin, demo and alt_demo sessions,
// and short ways to make networks, subnets and ports through the API (asserting 201).
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { startTestCloud, login, type TestCloud, type Session } from '../testing.ts';

export const N = '/networking/v2.0';

export interface NetEnv {
  cloud: TestCloud;
  admin: Session;
  demo: Session;
  alt: Session;
  adminProject: string;
  demoProject: string;
  altProject: string;
}

/** Registers before/after hooks that start (and close) one test cloud with three sessions. */
export function networkTestEnv(): NetEnv {
  const env = {} as NetEnv;
  before(async () => {
    env.cloud = await startTestCloud();
    env.admin = await login(env.cloud, 'admin');
    env.demo = await login(env.cloud, 'demo', env.cloud.config.demoPassword, 'demo');
    env.alt = await login(env.cloud, 'alt_demo', env.cloud.config.demoPassword, 'alt_demo');
    env.adminProject = env.admin.body.token.project.id;
    env.demoProject = env.demo.body.token.project.id;
    env.altProject = env.alt.body.token.project.id;
  });
  after(async () => { await env.cloud?.close(); });
  return env;
}

/** POST a resource, assert 201, return it. */
export async function make(s: Session, collection: string, key: string, body: Record<string, unknown>): Promise<any> {
  const r = await s.json('POST', `${N}/${collection}`, { [key]: body });
  assert.equal(r.status, 201, `${collection}: ${JSON.stringify(r.body)}`);
  return r.body[key];
}

export const makeNetwork = (s: Session, body: Record<string, unknown> = {}) => make(s, 'networks', 'network', { name: 'net', ...body });
export const makeSubnet = (s: Session, networkId: string, cidr: string, body: Record<string, unknown> = {}) =>
  make(s, 'subnets', 'subnet', { network_id: networkId, cidr, ip_version: cidr.includes(':') ? 6 : 4, ...body });
export const makePort = (s: Session, networkId: string, body: Record<string, unknown> = {}) => make(s, 'ports', 'port', { network_id: networkId, ...body });

/** Asserts a NeutronError of the given status (and type, when given); returns the error. */
export function assertNeutronError(r: { status: number; body: any }, status: number, type?: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.ok(r.body?.NeutronError, `a NeutronError body: ${JSON.stringify(r.body)}`);
  assert.equal(typeof r.body.NeutronError.message, 'string');
  if (type) assert.equal(r.body.NeutronError.type, type, r.body.NeutronError.message);
  return r.body.NeutronError;
}
