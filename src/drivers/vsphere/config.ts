// The vsphere driver's configuration: one vCenter from VISTACK_VSPHERE_* variables (the common
// case), or several from a YAML file (VISTACK_VSPHERE_CONFIG). Validated once at start with
// messages that never contain a password.
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { parse as parseYaml } from 'yaml';

export interface ClusterConfig { name: string; computeHost?: string }

export interface VCenterConfig {
  name: string;
  url: string;
  username: string;
  password: string;
  caFile?: string;
  insecure: boolean;
  datacenter?: string;
  clusters?: ClusterConfig[];
  datastoreRegex?: string;
  imageDatastore?: string;
  switch?: string;
  folder: string;
  imageCacheFolder: string;
  connections: number;
  taskTimeoutMs: number;
}

export interface VsphereConfig { vcenters: VCenterConfig[] }

/** Removes credentials from a string (URLs with user:password@ in error messages). */
export function redact(s: string): string {
  return s.replace(/(\/\/)[^/@\s]*@/g, '$1***@');
}

/** Hides the password from JSON.stringify and util.inspect (logs, error dumps). */
function sealed(c: VCenterConfig): VCenterConfig {
  const view = () => ({ ...c, password: '***' });
  Object.defineProperty(c, 'toJSON', { value: view, enumerable: false });
  Object.defineProperty(c, inspect.custom, { value: () => view(), enumerable: false });
  return c;
}

type Raw = Record<string, unknown>;

function str(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`${what} must be a string`);
  return String(v);
}

function bool(v: unknown): boolean {
  return v === true || v === 1 || (typeof v === 'string' && /^(1|true|yes|on)$/i.test(v));
}

function int(v: unknown, what: string, def: number, min: number): number {
  if (v === undefined || v === null || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${what} must be an integer >= ${min}`);
  return n;
}

function clustersOf(v: unknown, what: string): ClusterConfig[] | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const items = typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v;
  if (!Array.isArray(items)) throw new Error(`${what} must be a list of cluster names`);
  return items.map((it) => {
    if (typeof it === 'string') {
      const [name, host] = it.split('=', 2).map((x) => x.trim());
      if (!name) throw new Error(`${what}: empty cluster name`);
      return host ? { name, computeHost: host } : { name };
    }
    const o = it as Raw;
    const name = str(o?.name, `${what}: cluster name`);
    if (!name) throw new Error(`${what}: every cluster needs a name`);
    const computeHost = str(o.computeHost, `${what}: computeHost`);
    return computeHost ? { name, computeHost } : { name };
  });
}

/** One vCenter from a raw record (environment or YAML), validated. */
function vcenterOf(raw: Raw, what: string, baseDir: string): VCenterConfig {
  const rawUrl = str(raw.url, `${what}: url`);
  if (!rawUrl) throw new Error(`${what}: a vCenter URL is required (https://user:password@host/sdk)`);
  let url: URL;
  try { url = new URL(rawUrl); } catch { throw new Error(`${what}: invalid vCenter URL ${redact(rawUrl)}`); }
  const insecure = bool(raw.insecure);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && insecure)) {
    throw new Error(`${what}: the vCenter URL must be https:// (http:// only with insecure: true)`);
  }
  let username = str(raw.username, `${what}: username`) ?? (url.username ? decodeURIComponent(url.username) : undefined);
  let password = str(raw.password, `${what}: password`) ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const passwordFile = str(raw.passwordFile, `${what}: passwordFile`);
  if (passwordFile) {
    try { password = readFileSync(resolvePath(baseDir, passwordFile), 'utf8').trim(); } catch (e) {
      throw new Error(`${what}: cannot read passwordFile ${passwordFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (!username || !password) throw new Error(`${what}: vCenter credentials are required (in the URL, or username and password)`);
  url.username = '';
  url.password = '';
  if (!url.pathname || url.pathname === '/') url.pathname = '/sdk';
  const caFile = str(raw.caFile, `${what}: caFile`);
  if (caFile) {
    try { readFileSync(resolvePath(baseDir, caFile)); } catch (e) {
      throw new Error(`${what}: cannot read the CA file ${caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const datastoreRegex = str(raw.datastoreRegex, `${what}: datastoreRegex`);
  if (datastoreRegex) {
    try { new RegExp(datastoreRegex); } catch { throw new Error(`${what}: datastoreRegex /${datastoreRegex}/ is not a valid regular expression`); }
  }
  const folder = str(raw.folder, `${what}: folder`) ?? 'vistack';
  if (/[/\\]/.test(folder)) throw new Error(`${what}: folder must be a single folder name`);
  const cfg: VCenterConfig = {
    name: str(raw.name, `${what}: name`) ?? url.host,
    url: url.toString(),
    username, password,
    ...(caFile ? { caFile: resolvePath(baseDir, caFile) } : {}),
    insecure,
    ...(str(raw.datacenter, `${what}: datacenter`) ? { datacenter: str(raw.datacenter, '')! } : {}),
    ...(clustersOf(raw.clusters, `${what}: clusters`) ? { clusters: clustersOf(raw.clusters, '')! } : {}),
    ...(datastoreRegex ? { datastoreRegex } : {}),
    ...(str(raw.imageDatastore, `${what}: imageDatastore`) ? { imageDatastore: str(raw.imageDatastore, '')! } : {}),
    ...(str(raw.switch, `${what}: switch`) ? { switch: str(raw.switch, '')! } : {}),
    folder,
    imageCacheFolder: str(raw.imageCacheFolder, `${what}: imageCacheFolder`) ?? 'vistack_image_cache',
    connections: int(raw.connections, `${what}: connections`, 16, 1),
    taskTimeoutMs: int(raw.taskTimeoutMs, `${what}: taskTimeoutMs`, 600_000, 1000),
  };
  return sealed(cfg);
}

function resolvePath(baseDir: string, p: string) {
  return p.startsWith('/') ? p : `${baseDir}/${p}`;
}

export function loadVsphereConfig(env: NodeJS.ProcessEnv, opts: { configFile?: string } = {}): VsphereConfig {
  const file = opts.configFile ?? env.VISTACK_VSPHERE_CONFIG;
  let vcenters: VCenterConfig[];
  if (file) {
    let doc: unknown;
    try { doc = parseYaml(readFileSync(file, 'utf8')); } catch (e) {
      throw new Error(`cannot read the vSphere configuration ${file}: ${redact((e as Error).message)}`);
    }
    const list = (doc as Raw | null)?.vcenters;
    if (!Array.isArray(list) || !list.length) throw new Error(`${file}: expected "vcenters:" with at least one vCenter`);
    const base = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
    vcenters = list.map((raw, i) => vcenterOf(raw as Raw, `${file}: vcenters[${i}]`, base));
  } else {
    vcenters = [vcenterOf({
      url: env.VISTACK_VSPHERE_URL, caFile: env.VISTACK_VSPHERE_CA_FILE, insecure: env.VISTACK_VSPHERE_INSECURE,
      datacenter: env.VISTACK_VSPHERE_DATACENTER, clusters: env.VISTACK_VSPHERE_CLUSTERS,
      datastoreRegex: env.VISTACK_VSPHERE_DATASTORE_REGEX, imageDatastore: env.VISTACK_VSPHERE_IMAGE_DATASTORE,
      switch: env.VISTACK_VSPHERE_SWITCH, folder: env.VISTACK_VSPHERE_FOLDER,
    }, 'VISTACK_VSPHERE_URL', process.cwd())];
  }
  const names = new Set<string>();
  const hosts = new Set<string>();
  for (const vc of vcenters) {
    if (names.has(vc.name)) throw new Error(`two vCenters are named "${vc.name}"`);
    names.add(vc.name);
    for (const c of vc.clusters ?? []) {
      if (!c.computeHost) continue;
      if (hosts.has(c.computeHost)) throw new Error(`compute host "${c.computeHost}" is given to two clusters`);
      hosts.add(c.computeHost);
    }
  }
  return { vcenters };
}
