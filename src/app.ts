// Assembles a whole cloud in one process: database and migrations, the virtualization driver,
// the task engine, the service modules on one HTTP server, seed data and background loops.
// main.ts runs it from the command line; tests and benchmarks start it in-process.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from './core/config.ts';
import { openDatabase } from './core/db/index.ts';
import { migrate } from './core/db/migrate.ts';
import { TaskEngine, taskMigrations } from './core/tasks.ts';
import { Enforcer, BASE_RULES } from './core/policy.ts';
import { buildHttpServer } from './core/http.ts';
import type { Context, ServiceModule } from './core/service.ts';
import { createDrivers } from './drivers/index.ts';
import { identity } from './identity/index.ts';
import { image } from './image/index.ts';
import { compute } from './compute/index.ts';
import { network } from './network/index.ts';
import { blockStorage } from './block_storage/index.ts';
import { orchestration } from './orchestration/index.ts';
import { simulatorAdmin } from './drivers/simulator/admin.ts';

export const MODULES: ServiceModule[] = [identity, image, network, blockStorage, compute, orchestration, simulatorAdmin];

export interface Cloud {
  config: Config;
  ctx: Context;
  app: FastifyInstance;
  /** Keystone v3 auth URL, e.g. http://127.0.0.1:5000/identity/v3 */
  authUrl: string;
  close(): Promise<void>;
}

export async function startCloud(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Promise<Cloud> {
  const config = loadConfig(env, overrides);
  mkdirSync(config.dataDir, { recursive: true });
  const logger = pino({ level: config.logLevel });
  const log = {
    info: (m: string, e?: unknown) => logger.info(e ?? {}, m),
    warn: (m: string, e?: unknown) => logger.warn(e ?? {}, m),
    error: (m: string, e?: unknown) => logger.error(e instanceof Error ? { err: e } : (e ?? {}), m),
  };

  const db = await openDatabase(config.databaseUrl);
  await migrate(db, [...taskMigrations, ...MODULES.flatMap((m) => m.migrations)]);
  const drivers = await createDrivers(config, log, env);
  const driver = drivers.compute;
  await driver.init();
  const tasks = new TaskEngine(db, { nodeId: config.nodeId, concurrency: config.taskConcurrency, log: log.warn });
  const policy = new Enforcer(BASE_RULES);
  for (const m of MODULES) if (m.policy) policy.register(m.policy);
  policy.override(Enforcer.loadOverrides(config.policyFile ?? join(config.dataDir, 'policy.yaml')));

  const ctx: Context = {
    config, db, tasks, driver, policy, log,
    networkDriver: drivers.network,
    volumeDriver: drivers.volume,
    vcenters: drivers.sessions ?? [],
    tokens: { validate: async () => { throw new Error('identity module not initialised'); } },
    services: {},
    catalog: MODULES.flatMap((m) => m.catalog ?? []),
  };
  for (const m of MODULES) await m.init?.(ctx);

  const app = buildHttpServer(ctx, MODULES, logger);
  ctx.http = { inject: app.inject.bind(app) };
  await app.listen({ host: config.host, port: config.port });
  const addr = app.server.address();
  if (addr && typeof addr === 'object' && config.port === 0) {
    config.port = addr.port;
    if (!process.env.VISTACK_PUBLIC_URL) config.publicUrl = `http://${config.host}:${addr.port}`;
  }
  for (const m of MODULES) await m.seed?.(ctx);
  await tasks.start();
  for (const m of MODULES) await m.start?.(ctx);

  const authUrl = `${config.publicUrl}/identity/v3`;
  let closed = false;
  return {
    config, ctx, app, authUrl,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      for (const m of [...MODULES].reverse()) await m.stop?.(ctx);
      await tasks.stop();
      await driver.close();
      await db.close();
    },
  };
}

/** Writes $dataDir/clouds.yaml with the `vistack` cloud (admin in the admin project). */
export function writeCloudsYaml(cloud: Cloud): string {
  const file = join(cloud.config.dataDir, 'clouds.yaml');
  const doc = {
    clouds: {
      vistack: {
        auth: {
          auth_url: cloud.authUrl,
          username: 'admin',
          password: cloud.config.adminPassword,
          project_name: 'admin',
          user_domain_name: 'Default',
          project_domain_name: 'Default',
        },
        region_name: cloud.config.region,
        identity_api_version: 3,
        interface: 'public',
      },
      'vistack-demo': {
        auth: {
          auth_url: cloud.authUrl,
          username: 'demo',
          password: cloud.config.demoPassword,
          project_name: 'demo',
          user_domain_name: 'Default',
          project_domain_name: 'Default',
        },
        region_name: cloud.config.region,
        identity_api_version: 3,
        interface: 'public',
      },
    },
  };
  writeFileSync(file, YAML.stringify(doc), { mode: 0o600 });
  return file;
}
