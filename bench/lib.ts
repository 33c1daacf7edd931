// Shared by the benchmarks: a keep-alive HTTP client, rates and percentiles, the cloud as a child
// process (src/main.ts), and OpenStack calls they all make.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import http from 'node:http';

export const ROOT = resolve(import.meta.dirname, '..');
export const ADMIN_PASSWORD = 'bench-secret';

// A keep-alive HTTP client (lighter than fetch, so the load generator leaves CPU to the cloud).
export const base = { host: '127.0.0.1', port: 0 };
export const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
export interface Resp { status: number; headers: http.IncomingHttpHeaders; body: string }
export function request(method: string, path: string, o: { headers?: Record<string, string>; body?: unknown; raw?: Buffer } = {}): Promise<Resp> {
  return new Promise((res, rej) => {
    const payload = o.raw ?? (o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body)));
    const headers: Record<string, string | number> = { accept: 'application/json', ...o.headers };
    if (payload) {
      headers['content-length'] = payload.length;
      headers['content-type'] ??= o.raw ? 'application/octet-stream' : 'application/json';
    }
    const req = http.request({ ...base, method, path, agent, headers }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode!, headers: r.headers, body: Buffer.concat(chunks).toString() }));
      r.on('error', rej);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', rej);
    req.end(payload);
  });
}
export async function json(method: string, path: string, o: Parameters<typeof request>[2] & { expect?: number } = {}) {
  const r = await request(method, path, o);
  if (o.expect && r.status !== o.expect) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 300)}`);
  return { ...r, json: r.body ? JSON.parse(r.body) : null };
}

/** Runs `fn` from `concurrency` workers until `maxCount` calls or `maxMs` pass; returns calls/s. */
export async function rate(concurrency: number, maxCount: number, maxMs: number, fn: () => Promise<boolean>) {
  let started = 0, ok = 0, failed = 0;
  const t0 = performance.now(), until = t0 + maxMs;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (started < maxCount && performance.now() < until) {
      started++;
      if (await fn().catch(() => false)) ok++; else failed++;
    }
  }));
  const s = (performance.now() - t0) / 1000;
  return { perSec: ok / s, ok, failed, seconds: s };
}

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the cloud under test
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
    s.on('error', rej);
  });
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export interface Child { proc: ChildProcess; readyMs: number; output: () => string }
export async function startCloud(dataDir: string, port: number, extraEnv: Record<string, string> = {}): Promise<Child> {
  let out = '';
  const t0 = performance.now();
  const proc = spawn(process.execPath, [join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, VISTACK_DATA_DIR: dataDir, VISTACK_PORT: String(port), VISTACK_ADMIN_PASSWORD: ADMIN_PASSWORD, VISTACK_LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  let exited = false;
  proc.on('exit', () => { exited = true; });
  // Ready = the first answered request: poll Keystone's version document.
  for (;;) {
    if (exited) throw new Error(`the cloud exited during start:\n${out}`);
    if (performance.now() - t0 > 60_000) { proc.kill('SIGKILL'); throw new Error(`not ready after 60 s:\n${out}`); }
    const r = await request('GET', '/identity/v3').catch(() => null);
    if (r?.status === 200) return { proc, readyMs: performance.now() - t0, output: () => out };
    await sleep(5);
  }
}

export async function stopCloud(c: Child): Promise<number | null> {
  if (c.proc.exitCode !== null) return c.proc.exitCode;
  const done = new Promise<number | null>((r) => c.proc.once('exit', (code) => r(code)));
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 15_000);
  const code = await done;
  clearTimeout(t);
  return code;
}

// ---- OpenStack calls
export async function issueToken(): Promise<{ token: string; projectId: string }> {
  const r = await json('POST', '/identity/v3/auth/tokens', {
    expect: 201,
    body: { auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD } } },
      scope: { project: { name: 'admin', domain: { name: 'Default' } } } } },
  });
  return { token: String(r.headers['x-subject-token']), projectId: r.json.token.project.id };
}

export const NOVA = { 'openstack-api-version': 'compute 2.37', 'x-openstack-nova-api-version': '2.37' };

export async function createServers(auth: Record<string, string>, prefix: string, n: number, imageRef: string, flavorRef: string) {
  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const r = await json('POST', '/compute/v2.1/servers', {
      expect: 202, headers: { ...auth, ...NOVA },
      body: { server: { name: `${prefix}-${i}`, imageRef, flavorRef, networks: 'none' } },
    });
    return String(r.json.server.id);
  }));
  const pending = new Set(ids);
  const deadline = Date.now() + 300_000;
  while (pending.size) {
    if (Date.now() > deadline) throw new Error(`${pending.size} of ${n} servers not ACTIVE after 300 s`);
    await sleep(20);
    let marker = '';
    for (;;) { // the whole list, page by page, however the server pages it
      const r = await json('GET', `/compute/v2.1/servers/detail?limit=1000${marker ? `&marker=${marker}` : ''}`, { expect: 200, headers: auth });
      for (const s of r.json.servers) {
        if (!pending.has(s.id)) continue;
        if (s.status === 'ERROR') throw new Error(`server ${s.id} went to ERROR: ${JSON.stringify(s.fault ?? {})}`);
        if (s.status === 'ACTIVE') pending.delete(s.id);
      }
      if (!r.json.servers.length || !r.json.servers_links?.some((l: any) => l.rel === 'next')) break;
      marker = r.json.servers.at(-1).id;
    }
  }
  return (performance.now() - t0) / 1000;
}


/** The part of BENCHMARKS.md that bench/driver.ts writes, kept when bench/run.ts rewrites the rest. */
export const DRIVER_SECTION = { begin: '<!-- bench/driver.ts: begin -->', end: '<!-- bench/driver.ts: end -->' };

export function driverSection(file: string): string {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { return ''; }
  const a = text.indexOf(DRIVER_SECTION.begin);
  const b = text.indexOf(DRIVER_SECTION.end);
  return a >= 0 && b > a ? text.slice(a, b + DRIVER_SECTION.end.length) : '';
}
