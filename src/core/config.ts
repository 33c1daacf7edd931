// Process configuration, read once from the environment. Every knob has a default that gives
// the embedded cloud (SQLite + built-in vSphere simulator) in ./data.
import { resolve } from 'node:path';
import { hostname } from 'node:os';

export interface Config {
  dataDir: string;
  host: string;
  port: number;
  /** Public base URL used in the catalog and in links, e.g. http://127.0.0.1:5000 */
  publicUrl: string;
  databaseUrl: string; // sqlite:<file> or postgres://...
  driver: 'simulator' | 'vsphere';
  /** The vsphere driver's YAML file of vCenters (VISTACK_VSPHERE_CONFIG); without it, VISTACK_VSPHERE_URL. */
  vsphereConfigFile?: string;
  region: string;
  adminPassword: string;
  demoPassword: string;
  /** Stable id of this process for task leases; a restart with the same id reclaims its tasks at once. */
  nodeId: string;
  taskConcurrency: number;
  /** Simulated vSphere task latency in ms (default near zero). */
  simLatencyMs: number;
  tokenExpirationSec: number;
  policyFile?: string;
  logLevel: string;
  /** Skip seeding of demo data (tests that want an empty cloud). */
  seed: boolean;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const dataDir = resolve(overrides.dataDir ?? env.VISTACK_DATA_DIR ?? './data');
  const host = overrides.host ?? env.VISTACK_HOST ?? '127.0.0.1';
  const port = overrides.port ?? Number(env.VISTACK_PORT ?? 5000);
  const cfg: Config = {
    dataDir,
    host,
    port,
    publicUrl: env.VISTACK_PUBLIC_URL ?? '',
    databaseUrl: env.VISTACK_DATABASE_URL ?? `sqlite:${resolve(dataDir, 'vistack.db')}`,
    driver: (env.VISTACK_DRIVER as Config['driver']) ?? 'simulator',
    ...(env.VISTACK_VSPHERE_CONFIG ? { vsphereConfigFile: env.VISTACK_VSPHERE_CONFIG } : {}),
    region: env.VISTACK_REGION ?? 'RegionOne',
    adminPassword: env.VISTACK_ADMIN_PASSWORD ?? 'secret',
    demoPassword: env.VISTACK_DEMO_PASSWORD ?? 'secret',
    nodeId: env.VISTACK_NODE_ID ?? `${hostname()}:${dataDir}`,
    taskConcurrency: Number(env.VISTACK_TASK_CONCURRENCY ?? 64),
    simLatencyMs: Number(env.VISTACK_SIM_LATENCY_MS ?? 0),
    tokenExpirationSec: Number(env.VISTACK_TOKEN_EXPIRATION ?? 3600),
    policyFile: env.VISTACK_POLICY_FILE,
    logLevel: env.VISTACK_LOG_LEVEL ?? 'warn',
    seed: env.VISTACK_SEED !== '0',
    ...overrides,
  };
  if (!cfg.publicUrl) cfg.publicUrl = `http://${cfg.host}:${cfg.port}`;
  return cfg;
}
