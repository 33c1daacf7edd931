// The contract between the process and each OpenStack service module (identity, compute,
// image, ... ). A module is a Fastify plugin mounted under its own path prefix with its own
// routes, schemas, policy defaults, tables (migrations), error format and task handlers.
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import type { Database } from './db/index.ts';
import type { Migration } from './db/migrate.ts';
import type { TaskEngine } from './tasks.ts';
import type { Enforcer } from './policy.ts';
import type { TokenValidator } from './auth.ts';
import type { ComputeDriver, NetworkDriver, VolumeDriver } from './virt.ts';
import type { VSphereSession } from '../drivers/vsphere/session.ts';

export interface Logger {
  info(msg: string, extra?: unknown): void;
  warn(msg: string, extra?: unknown): void;
  error(msg: string, extra?: unknown): void;
}

/** An endpoint this module serves, registered in Keystone's catalog at bootstrap. */
export interface CatalogEntry {
  type: string; // 'compute'
  name: string; // 'nova'
  /** Path under the public URL, e.g. '/compute/v2.1' */
  path: string;
}

/**
 * In-process APIs one service offers the others (Nova asks Glance for image bytes, Keystone for
 * project existence ...). Each module fills in its own entry in init().
 */
export interface Services {
  identity?: import('../identity/api.ts').IdentityApi;
  image?: import('../image/api.ts').ImageApi;
  network?: import('../network/api.ts').NetworkApi;
  volume?: import('../block_storage/api.ts').VolumeApi;
}

export interface Context {
  config: Config;
  db: Database;
  tasks: TaskEngine;
  driver: ComputeDriver;
  /** Neutron's backend (port groups on the distributed switch). */
  networkDriver: NetworkDriver;
  /** Cinder's backend (VMDKs on datastores). */
  volumeDriver: VolumeDriver;
  /** The vsphere driver's vCenter sessions (Glance's datastore store uses them); none on the simulator. */
  vcenters: VSphereSession[];
  policy: Enforcer;
  /** Set by the identity module in init(). */
  tokens: TokenValidator;
  services: Services;
  catalog: CatalogEntry[];
  log: Logger;
  /** In-process HTTP into this cloud's own API (Heat calls the other services' APIs as a client
   *  would, without a socket). Set once the HTTP server is built. */
  http?: { inject: FastifyInstance['inject'] };
}

export interface ServiceModule {
  name: string;
  prefix: string; // '/identity'
  migrations: Migration[];
  policy?: Record<string, string>;
  catalog?: CatalogEntry[];
  /** Register task handlers and in-process APIs. Runs after migrations, before routes. */
  init?(ctx: Context): Promise<void>;
  routes(app: FastifyInstance, ctx: Context): Promise<void>;
  /** First-start data (DevStack-like). Must be idempotent: runs at every start. */
  seed?(ctx: Context): Promise<void>;
  /** Background loops (reconcilers); stopped by stop(). */
  start?(ctx: Context): Promise<void>;
  /** Receives the same context as init(): one process may run several clouds (tests). */
  stop?(ctx: Context): Promise<void>;
}
