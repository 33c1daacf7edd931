// Test helpers for the compute-resources tests: live instance rows inserted the way server
// create writes them (quota, usage and membership read them), without going through the API.
import { randomUUID } from 'node:crypto';
import { before, after } from 'node:test';
import type { Queryable } from '../core/db/index.ts';
import { startTestCloud, login, type TestCloud, type Session } from '../testing.ts';

export interface TestInstance {
  project: string; user: string; vcpus?: number; ram?: number; rootGb?: number; ephemeralGb?: number; swapMb?: number;
  node?: string | null; host?: string | null; name?: string; vmState?: string; taskState?: string | null;
  launchedAt?: string | null; terminatedAt?: string | null; createdAt?: string; flavorId?: string; deleted?: boolean;
}

/** Inserts one instance row (only the columns the instances table has). */
export async function insertInstance(q: Queryable, i: TestInstance): Promise<string> {
  const uuid = randomUUID();
  const now = i.createdAt ?? new Date().toISOString();
  const cols = (await q.all(q.dialect === 'sqlite'
    ? "SELECT name FROM pragma_table_info('instances')"
    : "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'instances'")).map((r) => r.name);
  return q.tx(async (t) => {
    await t.lock('test:instances:id');
    const id = Number((await t.get('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM instances'))!.n);
    const vcpus = i.vcpus ?? 1, ram = i.ram ?? 64, root = i.rootGb ?? 1, eph = i.ephemeralGb ?? 0, swap = i.swapMb ?? 0;
    const row: Record<string, unknown> = {
      uuid, id, project_id: i.project, user_id: i.user, display_name: i.name ?? 'test', vcpus, memory_mb: ram, root_gb: root,
      ephemeral_gb: eph, swap_mb: swap, flavor_id: i.flavorId ?? '1',
      flavor: JSON.stringify({ id: i.flavorId ?? '1', name: 'm1.tiny', vcpus, memoryMb: ram, rootGb: root, ephemeralGb: eph, swapMb: swap, extraSpecs: {} }),
      host: i.host ?? null, node: i.node ?? null, availability_zone: 'nova', vm_state: i.vmState ?? 'active', task_state: i.taskState ?? null,
      power_state: 1, reservation_id: `r-${uuid.slice(0, 8)}`, launched_at: i.launchedAt === undefined ? now : i.launchedAt,
      terminated_at: i.terminatedAt ?? null, created_at: now, updated_at: now, deleted: i.deleted ? 1 : 0,
    };
    const keys = Object.keys(row).filter((k) => cols.includes(k));
    await t.run(`INSERT INTO instances (${keys.join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`, keys.map((k) => row[k] as any));
    return uuid;
  });
}

/** The cloud and sessions most compute test files share: one cloud per file, admin and demo logged in. */
export interface ComputeTestEnv {
  cloud: TestCloud;
  admin: Session;
  demo: Session;
  demoProject: string;
  demoUser: string;
}

/** Registers before/after hooks that start (and close) one test cloud with admin and demo sessions. */
export function computeTestEnv(): ComputeTestEnv {
  const env = {} as ComputeTestEnv;
  before(async () => {
    env.cloud = await startTestCloud();
    env.admin = await login(env.cloud, 'admin');
    env.demo = await login(env.cloud, 'demo', env.cloud.config.demoPassword, 'demo');
    env.demoProject = env.demo.body.token.project.id;
    env.demoUser = env.demo.body.token.user.id;
  });
  after(async () => { await env.cloud?.close(); });
  return env;
}

/** The microversion header for a request. */
export const V = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
