// A small vim25 SOAP client: one HTTPS connection pool (undici) trusting the configured CA, a
// session cookie from SessionManager.Login kept alive and renewed when the server answers
// NotAuthenticated, faults decoded into VimFault with the fault's type name, and retries only
// where repeating the request cannot do something twice (the connection was refused, the
// method only reads, or the server said the object was busy before doing anything).
import { Agent, request } from 'undici';
import { Readable } from 'node:stream';
import { VirtDriverError } from '../../../core/virt.ts';
import { decodeResponse, encodeRequest, type Decoded } from './xml.ts';
import { moref, type MoRef, type ServiceContent, type UserSession } from './types.ts';
import { TaskWatcher } from './tasks.ts';

/** A vSphere fault: `fault` is the vim25 fault type (InvalidPowerState, ManagedObjectNotFound …). */
export class VimFault extends VirtDriverError {
  readonly detail: Decoded;
  readonly method: string;
  constructor(fault: string, message: string, detail: Decoded = {}, method = '') {
    super(fault, message);
    this.name = 'VimFault';
    this.detail = detail;
    this.method = method;
  }
}

/** The vCenter could not be reached (connection refused, reset, timed out): fault 'HostCommunication'. */
export class VimConnectionError extends VirtDriverError {
  readonly code: string;
  constructor(message: string, code: string) {
    super('HostCommunication', message);
    this.name = 'VimConnectionError';
    this.code = code;
  }
}

export interface VimLogger {
  info(msg: string): void;
  warn(msg: string): void;
  debug?(msg: string): void;
}

export interface VimClientOptions {
  /** https://host:port/sdk, without credentials. */
  url: string;
  username: string;
  password: string;
  /** PEM bundle of the CA(s) to trust (instead of Node's defaults). */
  ca?: string | Buffer;
  /** Skip certificate verification: only when the operator asked for it. */
  insecure?: boolean;
  connections?: number;
  /** How long to keep retrying when the vCenter cannot be reached (default 60 s). */
  retryDeadlineMs?: number;
  /** Interval of the session keep-alive read (default 5 min; 0 disables). */
  keepAliveMs?: number;
  requestTimeoutMs?: number;
  log?: VimLogger;
}

/** Methods that only read: safe to send again after a connection broke mid-request. */
const READ_ONLY = new Set([
  'RetrieveServiceContent', 'RetrieveProperties', 'RetrievePropertiesEx', 'ContinueRetrievePropertiesEx',
  'WaitForUpdatesEx', 'FindByUuid', 'FindByInventoryPath', 'FindChild', 'CurrentTime', 'SessionIsActive',
  'QueryPerf', 'QueryAvailablePerfMetric', 'QueryPerfProviderSummary', 'QueryVirtualDiskUuid', 'FetchDVPorts',
  'CreateContainerView', 'DestroyView', 'CreateFilter', 'DestroyPropertyFilter', 'CreatePropertyCollector',
  'DestroyPropertyCollector', 'CancelWaitForUpdates', 'SearchDatastore_Task', 'SearchDatastoreSubFolders_Task',
  'QueryEvents',
]);
/** Connection failures where the request never reached the server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
const BROKEN = new Set([...NOT_SENT, 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/** Faults raised before the server did anything: the same request may simply be sent again. */
const BUSY_FAULTS = new Set(['TaskInProgress', 'ConcurrentAccess']);
/** Property reads: answered even without a valid session (vcsim), every property then missing. */
const PROPERTY_READS = new Set(['RetrieveProperties', 'RetrievePropertiesEx', 'ContinueRetrievePropertiesEx']);

/**
 * Whether a property read came back with properties missing for NotAuthenticated: the session is
 * gone (vcsim answers so instead of a fault). Read as such, the objects would look empty (a VM
 * without a power state), so the caller logs in again and repeats the read instead.
 */
function missingForSession(rv: unknown): boolean {
  const list = Array.isArray(rv) ? rv : (rv as { objects?: unknown } | undefined)?.objects;
  for (const oc of Array.isArray(list) ? list : list ? [list] : []) {
    const missing = (oc as { missingSet?: unknown })?.missingSet;
    for (const m of Array.isArray(missing) ? missing : missing ? [missing] : []) {
      if ((m as { fault?: { fault?: { _type?: string } } })?.fault?.fault?._type === 'NotAuthenticated') return true;
    }
  }
  return false;
}

const SERVICE_INSTANCE = moref('ServiceInstance', 'ServiceInstance');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function errorCode(e: unknown): string | undefined {
  let cur = e as { code?: string; cause?: unknown } | undefined;
  for (let i = 0; cur && i < 5; i++) {
    if (typeof cur.code === 'string' && (BROKEN.has(cur.code) || cur.code.startsWith('UND_ERR'))) return cur.code;
    cur = cur.cause as typeof cur;
  }
  return undefined;
}

export class VimClient {
  readonly url: URL;
  readonly tasks: TaskWatcher;
  private readonly opts: VimClientOptions;
  private readonly agent: Agent;
  private cookie = '';
  private apiVersion = '6.5';
  private sc: ServiceContent | null = null;
  private loginInFlight: Promise<void> | null = null;
  /** Bumped at every login: a fault seen under an older session does not log in twice. */
  private sessionEpoch = 0;
  private keepAlive: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly sessionListeners: Array<() => void> = [];
  /** Counters for the admin command and benchmarks. */
  readonly stats = { calls: 0, faults: 0, retries: 0, logins: 0 };

  constructor(opts: VimClientOptions) {
    this.opts = opts;
    this.url = new URL(opts.url);
    if (this.url.username || this.url.password) throw new Error('VimClient: pass credentials as options, not in the URL');
    this.agent = new Agent({
      connections: opts.connections ?? 16,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.requestTimeoutMs ?? 300_000,
      bodyTimeout: opts.requestTimeoutMs ?? 300_000,
      connect: { ...(opts.ca ? { ca: opts.ca } : {}), rejectUnauthorized: !opts.insecure },
    });
    this.tasks = new TaskWatcher(this);
  }

  get content(): ServiceContent {
    if (!this.sc) throw new VimFault('NotAuthenticated', `not connected to ${this.url.host}`);
    return this.sc;
  }

  /** The vCenter's instance uuid (stable identity across restarts and IP changes). */
  get instanceUuid(): string { return this.content.about.instanceUuid ?? this.url.host; }

  /** Called after every (re-)login: objects tied to the session (collectors, views) must be recreated. */
  onSession(fn: () => void) { this.sessionListeners.push(fn); }

  async connect(): Promise<void> {
    this.closed = false;
    await this.login();
    const every = this.opts.keepAliveMs ?? 300_000;
    if (every > 0 && !this.keepAlive) {
      this.keepAlive = setInterval(() => { void this.ping(); }, every);
      this.keepAlive.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
    await this.tasks.close();
    if (this.sc?.sessionManager && this.cookie) {
      try { await this.send('Logout', this.sc.sessionManager, {}, 5_000); } catch { /* the session expires on its own */ }
    }
    this.cookie = '';
    await this.agent.close();
  }

  /** Keeps the session alive; logs in again when it has expired. */
  async ping(): Promise<void> {
    try {
      const s = await this.currentSession();
      if (!s) await this.relogin(this.sessionEpoch);
    } catch (e) {
      this.opts.log?.warn(`vCenter ${this.url.host}: keep-alive failed: ${(e as Error).message}`);
    }
  }

  async currentSession(): Promise<UserSession | null> {
    const rv = await this.call<{ objects?: Array<{ propSet?: Array<{ val: UserSession }> }> } | undefined>(
      'RetrievePropertiesEx', this.content.propertyCollector, {
        specSet: { propSet: { type: 'SessionManager', pathSet: ['currentSession'] }, objectSet: { obj: this.content.sessionManager } },
        options: {},
      });
    const objects = rv?.objects;
    const first = Array.isArray(objects) ? objects[0] : objects;
    const props = first?.propSet;
    const p = Array.isArray(props) ? props[0] : props;
    return p?.val ?? null;
  }

  private async login(): Promise<void> {
    this.sc = await this.send<ServiceContent>('RetrieveServiceContent', SERVICE_INSTANCE, {}, undefined, true);
    // Speak the newest version the server offers from here on (SOAPAction urn:vim25/<version>).
    if (this.sc.about?.apiVersion) this.apiVersion = this.sc.about.apiVersion;
    if (!this.sc.sessionManager) throw new VimFault('NotSupported', `${this.url.host} has no SessionManager`);
    this.cookie = '';
    await this.send('Login', this.sc.sessionManager, { userName: this.opts.username, password: this.opts.password }, undefined, true);
    this.sessionEpoch++;
    this.stats.logins++;
    for (const fn of this.sessionListeners) fn();
  }

  /** Logs in again unless another caller already did since `epoch`. */
  private async relogin(epoch: number): Promise<void> {
    if (epoch !== this.sessionEpoch) return;
    if (!this.loginInFlight) {
      this.opts.log?.warn(`vCenter ${this.url.host}: session not authenticated, logging in again`);
      this.loginInFlight = this.login().finally(() => { this.loginInFlight = null; });
    }
    await this.loginInFlight;
  }

  /**
   * Calls a vim25 method. Renews the session once on NotAuthenticated; retries while the
   * server cannot be reached (read-only methods also when the connection broke mid-request).
   */
  async call<T = unknown>(method: string, self: MoRef, params: Record<string, unknown> = {}, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.closed) throw new VimFault('NotAuthenticated', `client of ${this.url.host} is closed`);
    const deadline = Date.now() + (this.opts.retryDeadlineMs ?? 60_000);
    let delay = 100;
    let relogged = false;
    let busy = 0;
    for (;;) {
      const epoch = this.sessionEpoch;
      try {
        if (this.loginInFlight) await this.loginInFlight;
        return await this.send<T>(method, self, params, opts.timeoutMs);
      } catch (e) {
        if (this.closed) throw e;
        if (e instanceof VimFault) {
          if (e.fault === 'NotAuthenticated' && !relogged && method !== 'Login') {
            relogged = true;
            await this.reloginWithRetry(epoch, deadline);
            continue;
          }
          if (BUSY_FAULTS.has(e.fault) && busy++ < 5 && Date.now() < deadline) {
            this.stats.retries++;
            await sleep(200 * busy);
            continue;
          }
          throw e;
        }
        const code = e instanceof VimConnectionError ? e.code : undefined;
        const retryable = code !== undefined && (NOT_SENT.has(code) || READ_ONLY.has(method));
        if (!retryable || Date.now() + delay > deadline) throw e;
        this.stats.retries++;
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
        // A vCenter that came back may have forgotten our session (a restart): the next
        // NotAuthenticated logs in again.
        relogged = false;
      }
    }
  }

  private async reloginWithRetry(epoch: number, deadline: number) {
    let delay = 200;
    for (;;) {
      try { return await this.relogin(epoch); } catch (e) {
        if (!(e instanceof VimConnectionError) || Date.now() + delay > deadline) throw e;
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  /** Calls a method that returns a Task and waits for it; resolves with TaskInfo.result. */
  async runTask<T = unknown>(method: string, self: MoRef, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> {
    const task = await this.call<MoRef>(method, self, params);
    const info = await this.tasks.wait(task, method, timeoutMs);
    return info.result as T;
  }

  /** One HTTP round trip. */
  private async send<T>(method: string, self: MoRef, params: Record<string, unknown>, timeoutMs?: number, takeCookie = false): Promise<T> {
    const body = encodeRequest(method, self, params);
    this.stats.calls++;
    let res;
    try {
      res = await request(this.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'text/xml; charset=utf-8',
          soapaction: `urn:vim25/${this.apiVersion}`,
          ...(this.cookie ? { cookie: this.cookie } : {}),
        },
        body,
        ...(timeoutMs ? { headersTimeout: timeoutMs, bodyTimeout: timeoutMs } : {}),
      });
    } catch (e) {
      const code = errorCode(e) ?? 'ECONNRESET';
      throw new VimConnectionError(`vCenter ${this.url.host} unreachable during ${method}: ${(e as Error).message}`, code);
    }
    let text: string;
    try { text = await res.body.text(); } catch (e) {
      throw new VimConnectionError(`vCenter ${this.url.host}: connection lost reading the ${method} response: ${(e as Error).message}`, errorCode(e) ?? 'ECONNRESET');
    }
    if (takeCookie) {
      const set = res.headers['set-cookie'];
      const cookies = Array.isArray(set) ? set : set ? [set] : [];
      const session = cookies.map((c) => c.split(';')[0]!).find((c) => c.startsWith('vmware_soap_session='));
      if (session) this.cookie = session;
    }
    if (res.statusCode === 503 || res.statusCode === 502 || res.statusCode === 504) {
      throw new VimConnectionError(`vCenter ${this.url.host} answered HTTP ${res.statusCode} to ${method}`, `HTTP_${res.statusCode}`);
    }
    let decoded;
    try { decoded = decodeResponse(text); } catch {
      throw new VimFault('SystemError', `vCenter ${this.url.host} answered ${method} with HTTP ${res.statusCode} and no SOAP body`, {}, method);
    }
    if ('fault' in decoded) {
      this.stats.faults++;
      const f = decoded.fault;
      throw new VimFault(f.name, `${method}: ${f.message}`, f.detail, method);
    }
    if (PROPERTY_READS.has(method) && missingForSession(decoded.returnval)) {
      this.stats.faults++;
      throw new VimFault('NotAuthenticated', `${method}: the properties are missing for NotAuthenticated (the session is gone)`, {}, method);
    }
    return decoded.returnval as T;
  }

  // ---- datastore file access (https://host/folder/<path>?dcPath=&dsName=) ---------------------

  fileUrl(datacenterPath: string, datastore: string, path: string): URL {
    const u = new URL(this.url.origin);
    u.pathname = '/folder/' + path.split('/').map(encodeURIComponent).join('/');
    u.searchParams.set('dcPath', datacenterPath);
    u.searchParams.set('dsName', datastore);
    return u;
  }

  /** Streams `data` into a datastore file (PUT creates parent folders and replaces the file). */
  async upload(datacenterPath: string, datastore: string, path: string, data: Readable | Buffer, size?: number): Promise<void> {
    const url = this.fileUrl(datacenterPath, datastore, path);
    let res;
    try {
      res = await request(url, {
        method: 'PUT', dispatcher: this.agent, body: data,
        headers: {
          'content-type': 'application/octet-stream', cookie: this.cookie,
          ...(size !== undefined ? { 'content-length': String(size) } : {}),
        },
      });
    } catch (e) {
      throw new VimConnectionError(`upload to [${datastore}] ${path} failed: ${(e as Error).message}`, errorCode(e) ?? 'ECONNRESET');
    }
    await res.body.dump();
    if (res.statusCode === 401 || res.statusCode === 403) throw new VimFault('NoPermission', `upload to [${datastore}] ${path}: HTTP ${res.statusCode}`);
    if (res.statusCode >= 300) throw new VimFault('CannotAccessFile', `upload to [${datastore}] ${path}: HTTP ${res.statusCode}`);
  }

  /**
   * A datastore file's bytes as a stream; FileNotFound when it does not exist. With `range`
   * (bytes [start, end), end exclusive) a Range header is sent: `partial` says whether the
   * server honoured it (206); a server that ignores it answers 200 with the whole file.
   */
  async download(datacenterPath: string, datastore: string, path: string, opts: { range?: { start: number; end?: number } } = {}): Promise<{ stream: Readable; size?: number; partial?: boolean }> {
    const url = this.fileUrl(datacenterPath, datastore, path);
    const r = opts.range;
    const range = r ? { range: `bytes=${r.start}-${r.end !== undefined ? r.end - 1 : ''}` } : {};
    let res;
    try {
      res = await request(url, { method: 'GET', dispatcher: this.agent, headers: { cookie: this.cookie, ...range } });
    } catch (e) {
      throw new VimConnectionError(`download of [${datastore}] ${path} failed: ${(e as Error).message}`, errorCode(e) ?? 'ECONNRESET');
    }
    if (res.statusCode === 404) { await res.body.dump(); throw new VimFault('FileNotFound', `File [${datastore}] ${path} was not found`); }
    // A range that starts at or past the end of the file: no bytes (as a file read there gives).
    if (r && res.statusCode === 416) { await res.body.dump(); return { stream: Readable.from([]), size: 0, partial: true }; }
    if (res.statusCode >= 300) { await res.body.dump(); throw new VimFault('CannotAccessFile', `download of [${datastore}] ${path}: HTTP ${res.statusCode}`); }
    const len = res.headers['content-length'];
    return { stream: res.body, ...(len ? { size: Number(len) } : {}), ...(r ? { partial: res.statusCode === 206 } : {}) };
  }
}

export const isFault = (e: unknown, ...names: string[]): e is VimFault =>
  e instanceof VirtDriverError && names.includes(e.fault);
