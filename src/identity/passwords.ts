// Password (and application credential secret) hashing: bcrypt at Keystone's default cost (12)
// in a small worker_threads pool so the event loop never blocks on it. Clients such as Tempest
// authenticate over and over with the same password, so recent successful verifications are
// remembered for a short while, keyed by user, stored hash and an HMAC of the password (never the
// password itself): a changed hash or a different password misses the cache.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createHmac, randomBytes } from 'node:crypto';

export const BCRYPT_ROUNDS = 12;
const VERIFY_CACHE_TTL_MS = 5 * 60_000;
const VERIFY_CACHE_MAX = 10_000;
const WORKER_IDLE_MS = 5_000;

interface Pending { resolve(v: any): void; reject(e: Error): void }

export class PasswordHasher {
  private workers: Worker[] = [];
  private idle: Worker[] = [];
  private queue: Array<{ msg: any; p: Pending }> = [];
  private pending = new Map<number, { p: Pending; w: Worker }>();
  private nextId = 1;
  private readonly size: number;
  private readonly rounds: number;
  private readonly cacheKey = randomBytes(32);
  private verified = new Map<string, number>(); // key -> expiry (ms), insertion-ordered
  private closed = false;

  constructor(opts: { workers?: number; rounds?: number } = {}) {
    this.size = opts.workers ?? Math.max(1, Math.min(4, availableParallelism()));
    this.rounds = opts.rounds ?? BCRYPT_ROUNDS;
  }

  hash(password: string): Promise<string> {
    return this.run({ op: 'hash', password, rounds: this.rounds });
  }

  /** True when `password` matches `hash`. `cacheScope` (e.g. the user id) enables the verification cache. */
  async verify(password: string, hash: string | null | undefined, cacheScope?: string): Promise<boolean> {
    if (!hash) return false;
    const key = cacheScope
      ? `${cacheScope}\0${hash}\0${createHmac('sha256', this.cacheKey).update(password).digest('base64')}`
      : undefined;
    if (key) {
      const exp = this.verified.get(key);
      if (exp !== undefined && exp > Date.now()) return true;
      if (exp !== undefined) this.verified.delete(key);
    }
    const ok: boolean = await this.run({ op: 'verify', password, hash });
    if (ok && key) {
      this.verified.delete(key);
      this.verified.set(key, Date.now() + VERIFY_CACHE_TTL_MS);
      if (this.verified.size > VERIFY_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    }
    return ok;
  }

  private run(msg: any): Promise<any> {
    if (this.closed) return Promise.reject(new Error('password hasher closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ msg, p: { resolve, reject } });
      this.pump();
    });
  }

  private pump() {
    while (this.queue.length) {
      let w = this.idle.pop();
      if (!w && this.workers.length < this.size) w = this.spawn();
      if (!w) return;
      const { msg, p } = this.queue.shift()!;
      const id = this.nextId++;
      this.pending.set(id, { p, w });
      w.postMessage({ ...msg, id });
    }
  }

  private spawn(): Worker {
    const w = new Worker(new URL('./password-worker.ts', import.meta.url));
    w.unref();
    w.on('message', (m: { id: number; result?: any; error?: string }) => {
      const job = this.pending.get(m.id);
      this.pending.delete(m.id);
      this.idle.push(w);
      if (job) m.error !== undefined ? job.p.reject(new Error(m.error)) : job.p.resolve(m.result);
      this.pump();
      this.retireWhenIdle();
    });
    w.on('error', (e) => this.lose(w, e));
    w.on('exit', () => this.lose(w, new Error('password worker exited')));
    this.workers.push(w);
    return w;
  }

  // Each worker holds ~9 MB; hashing comes in bursts (logins, user creation), so workers that
  // stay idle for a while are stopped and spawned again on demand.
  private retireTimer: NodeJS.Timeout | undefined;
  private retireWhenIdle() {
    clearTimeout(this.retireTimer);
    this.retireTimer = setTimeout(() => {
      if (this.pending.size || this.queue.length) return;
      const idle = this.idle;
      this.idle = [];
      for (const w of idle) { this.workers = this.workers.filter((x) => x !== w); w.removeAllListeners('exit'); w.terminate(); }
    }, WORKER_IDLE_MS);
    this.retireTimer.unref();
  }

  // A dead worker fails its job and is replaced on demand.
  private lose(w: Worker, e: Error) {
    this.workers = this.workers.filter((x) => x !== w);
    this.idle = this.idle.filter((x) => x !== w);
    for (const [id, job] of this.pending) if (job.w === w) { this.pending.delete(id); job.p.reject(e); }
    if (!this.closed) this.pump();
  }

  async close() {
    this.closed = true;
    clearTimeout(this.retireTimer);
    const ws = this.workers;
    this.workers = [];
    this.idle = [];
    await Promise.all(ws.map((w) => w.terminate()));
    for (const q of this.queue) q.p.reject(new Error('password hasher closed'));
    this.queue = [];
  }
}
