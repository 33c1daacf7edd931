// Helpers for integration tests: a whole cloud in-process on a random port with its own data
// directory, and a small authenticated HTTP client. Tests talk to it over real HTTP, as clients do.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCloud, type Cloud } from './app.ts';
import type { Config } from './core/config.ts';
import { resetPostgres } from './core/db/testing.ts';

/** Test clouds of this process open on the shared PostgreSQL test database. */
let openOnPostgres = 0;

export interface TestCloud extends Cloud {
  url: string; // base URL, e.g. http://127.0.0.1:40123
}

/**
 * Starts a cloud in a fresh temporary data directory. VISTACK_TEST_DATABASE_URL, when set (CI
 * sets it to a PostgreSQL database), runs the same tests on PostgreSQL; each cloud then gets a
 * fresh schema-less database by dropping every table first.
 */
export async function startTestCloud(overrides: Partial<Config> = {},
  opts: { freshDatabase?: boolean; env?: Record<string, string> } = {}): Promise<TestCloud> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'vistack-test-'));
  const pgUrl = process.env.VISTACK_TEST_DATABASE_URL;
  // A given dataDir means a restart of an earlier cloud, unless the caller says it is new.
  const fresh = opts.freshDatabase ?? !overrides.dataDir;
  if (pgUrl && !overrides.databaseUrl && fresh) {
    // Every test cloud on PostgreSQL shares the one test database: a reset under an open cloud
    // would hand that cloud's workers the new cloud's tasks, a flaky failure far from its cause.
    if (openOnPostgres > 0) throw new Error('startTestCloud: another test cloud is still open on VISTACK_TEST_DATABASE_URL; close it first');
    await resetPostgres(pgUrl);
  }
  const cloud = await startCloud({
    port: 0, logLevel: 'error', simLatencyMs: 0,
    ...(pgUrl ? { databaseUrl: pgUrl } : {}),
    ...overrides, dataDir,
  }, { ...process.env, VISTACK_PUBLIC_URL: '', ...opts.env });
  const close = cloud.close.bind(cloud);
  const onPostgres = Boolean(pgUrl && !overrides.databaseUrl);
  if (onPostgres) openOnPostgres++;
  let closed = false;
  return Object.assign(cloud, {
    url: cloud.config.publicUrl,
    async close() {
      if (onPostgres && !closed) openOnPostgres--;
      closed = true;
      await close();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

export interface Session {
  token: string;
  body: any; // the token response
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  json(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
}

/** Password-authenticates (project scope by default) and returns a client carrying the token. */
export async function login(cloud: TestCloud, user = 'admin', password = cloud.config.adminPassword,
  project: string | null = 'admin', domain = 'Default'): Promise<Session> {
  const auth: any = { identity: { methods: ['password'], password: { user: { name: user, domain: { name: domain }, password } } } };
  if (project) auth.scope = { project: { name: project, domain: { name: domain } } };
  const r = await fetch(`${cloud.url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth }),
  });
  if (r.status !== 201) throw new Error(`login ${user} failed: ${r.status} ${await r.text()}`);
  return session(cloud, r.headers.get('x-subject-token')!, await r.json());
}

export function session(cloud: TestCloud, token: string, body: any = null): Session {
  const request = (method: string, path: string, b?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${cloud.url}${path}`, {
      method,
      headers: { 'x-auth-token': token, ...(b !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: b === undefined ? undefined : typeof b === 'string' ? b : JSON.stringify(b),
    });
  return {
    token, body, request,
    async json(method, path, b, headers) {
      const r = await request(method, path, b, headers);
      const text = await r.text();
      let parsed: any = text;
      try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
      return { status: r.status, body: parsed, headers: r.headers };
    },
  };
}
