// VMware's vcsim for the driver tests: started on a random loopback port with TLS, its server
// certificate signed by a test CA that the client trusts through a CA file (never by turning
// verification off). Built by ../shared/tools/vcsim/build.sh into .vcsim-bin/ (CI does it first).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN_DIR = join(REPO, '.vcsim-bin');

export function vcsimBinary(): string | null {
  const p = process.env.VISTACK_TEST_VCSIM ?? join(BIN_DIR, 'vcsim');
  return existsSync(p) ? p : null;
}

export function govcBinary(): string | null {
  const v = vcsimBinary();
  const p = v ? join(v, '..', 'govc') : '';
  return p && existsSync(p) ? p : null;
}

/** node:test options: skip without vcsim on a developer machine; in CI a missing vcsim fails the suite. */
export function vcsimTestOptions(): { skip?: string } {
  if (vcsimBinary() || process.env.CI) return {};
  return { skip: 'vcsim is not built (bash ../shared/tools/vcsim/build.sh .vcsim-bin)' };
}

/** A CA and a server certificate for 127.0.0.1/localhost signed by it, made once with openssl. */
function tlsFiles(): { ca: string; cert: string; key: string } {
  const dir = join(BIN_DIR, 'tls');
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  if (existsSync(files.ca) && existsSync(files.cert) && existsSync(files.key)) return files;
  mkdirSync(dir, { recursive: true });
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=Vistack test CA',
    '-keyout', 'ca.key', '-out', 'ca.pem.tmp', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem.tmp', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650',
    '-extfile', 'server.ext', '-out', 'server.pem');
  // The CA file appears last: its presence means the set is complete.
  execFileSync('mv', ['ca.pem.tmp', 'ca.pem'], { cwd: dir });
  return files;
}

export interface Vcsim {
  url: string;
  username: string;
  password: string;
  caFile: string;
  port: number;
  pid: number;
  /** For a cloud started against it: VISTACK_DRIVER, VISTACK_VSPHERE_URL (with credentials), VISTACK_VSPHERE_CA_FILE. */
  env: Record<string, string>;
  govc(...args: string[]): Promise<string>;
  /** One property of an inventory path as govc's object.collect -json shows it (govc's field names). */
  collect(path: string, prop: string): Promise<any>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(opts?: { load?: string }): Promise<void>;
  save(dir: string): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const c of running) c.kill('SIGKILL'); });

export async function startVcsim(opts: { args?: string[]; methodDelay?: Record<string, number>; username?: string; password?: string } = {}): Promise<Vcsim> {
  const bin = vcsimBinary();
  if (!bin) throw new Error('vcsim is not built: bash ../shared/tools/vcsim/build.sh .vcsim-bin (or set VISTACK_TEST_VCSIM)');
  const tls = tlsFiles();
  const username = opts.username ?? 'vistack';
  const password = opts.password ?? randomBytes(9).toString('base64url');
  /** The datastore directories of this vcsim (other vcsims may run beside it). */
  const dirs = new Set<string>();
  let child: ChildProcess;
  let port = 0;

  const launch = async (listen: string, load?: string) => {
    const args = ['-l', listen, '-tlscert', tls.cert, '-tlskey', tls.key, '-username', username, '-password', password,
      ...(opts.methodDelay ? ['-method-delay', Object.entries(opts.methodDelay).map(([m, ms]) => `${m}:${ms}`).join(',')] : []),
      ...(load ? ['-load', load] : []), ...(opts.args ?? [])];
    child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    running.add(child);
    const c = child;
    c.on('exit', () => running.delete(c));
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: c.stdout! });
      const timer = setTimeout(() => reject(new Error('vcsim did not print its URL within 15 s')), 15_000);
      rl.once('line', (l) => { clearTimeout(timer); resolve(l); });
      c.once('exit', (code) => { clearTimeout(timer); reject(new Error(`vcsim exited (${code}) before it was ready`)); });
    });
    c.stdout!.resume(); // keep draining
    const m = /GOVC_URL=\S*@127\.0\.0\.1:(\d+)\/sdk/.exec(line);
    if (!m) throw new Error(`unexpected first line from vcsim: ${line}`);
    port = Number(m[1]);
  };
  await launch('127.0.0.1:0');

  const cleanup = () => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); };
  // A datastore's moref is its directory ("/tmp/govcsim-DC0-LocalDS_0-123@folder-5").
  const learnDirs = async () => {
    const out = await sim.govc('find', '-i', '/', '-type', 's');
    for (const line of out.split('\n')) {
      const m = /^Datastore:(\/[^@]+)@/.exec(line.trim());
      if (m && m[1]!.startsWith('/tmp/govcsim-')) dirs.add(m[1]!);
    }
  };
  const waitExit = (c: ChildProcess) => new Promise<void>((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else c.once('exit', () => r()); });
  const sim: Vcsim = {
    get url() { return `https://127.0.0.1:${port}/sdk`; },
    username, password, caFile: tls.ca,
    get port() { return port; },
    get pid() { return child.pid ?? 0; },
    get env() {
      return {
        VISTACK_DRIVER: 'vsphere',
        VISTACK_VSPHERE_URL: `https://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${port}/sdk`,
        VISTACK_VSPHERE_CA_FILE: tls.ca,
      };
    },
    govc(...args: string[]) {
      const govc = govcBinary();
      if (!govc) return Promise.reject(new Error('govc is not built beside vcsim'));
      return new Promise((resolve, reject) => {
        const p = spawn(govc, args, {
          env: { ...process.env, GOVC_URL: `https://127.0.0.1:${port}/sdk`, GOVC_USERNAME: username, GOVC_PASSWORD: password, GOVC_TLS_CA_CERTS: tls.ca, GOVC_INSECURE: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => { out += d; });
        p.stderr.on('data', (d) => { err += d; });
        p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`govc ${args.join(' ')}: ${err.trim() || `exit ${code}`}`))));
      });
    },
    async collect(path: string, prop: string) {
      const out = JSON.parse(await sim.govc('object.collect', '-json', path, prop)) as Array<{ Name: string; Val: unknown }>;
      return out.find((x) => x.Name === prop)?.Val;
    },
    async stop() {
      const c = child;
      c.kill('SIGTERM');
      await waitExit(c);
      cleanup();
    },
    async kill() {
      const c = child;
      c.kill('SIGKILL');
      await waitExit(c);
    },
    async restart(o = {}) {
      if (child.exitCode === null && child.signalCode === null) await sim.kill();
      // The same port: clients keep their URL. The port may linger for a moment after a kill.
      for (let i = 0; ; i++) {
        try { await launch(`127.0.0.1:${port}`, o.load); return; } catch (e) {
          if (i >= 20) throw e;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
    async save(dir: string) { await sim.govc('object.save', '-d', dir); },
  };
  await learnDirs().catch(() => undefined);
  return sim;
}
