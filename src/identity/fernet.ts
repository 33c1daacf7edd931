// Fernet (https://github.com/fernet/spec): version 0x80, 64-bit timestamp, 128-bit IV,
// AES-128-CBC ciphertext and an HMAC-SHA256 over all of it, base64url encoded. Keys live in a
// directory laid out as Keystone's key repository: file "0" is the staged key, the highest
// number is the primary key (used to encrypt), every key in between still decrypts. Rotation
// promotes the staged key, stages a new one and drops the oldest beyond maxActiveKeys.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

const VERSION = 0x80;

interface Key { index: number; signing: KeyObject; encryption: KeyObject }

export function newFernetKey(): string {
  // As Python's Fernet.generate_key(): urlsafe base64 with its padding.
  return randomBytes(32).toString('base64url') + '=';
}

function parseKey(index: number, text: string): Key {
  const raw = Buffer.from(text.trim().replace(/=+$/, ''), 'base64url');
  if (raw.length !== 32) throw new Error(`Fernet key ${index} is not 32 bytes of base64url`);
  // Key objects made once: building them from bytes on every token is measurable.
  return { index, signing: createSecretKey(raw.subarray(0, 16)), encryption: createSecretKey(raw.subarray(16)) };
}

export class FernetKeys {
  readonly dir: string;
  readonly maxActiveKeys: number;
  private keys: Key[] = []; // primary first
  private loadedStamp = '';

  constructor(dir: string, maxActiveKeys = 3) {
    this.dir = dir;
    this.maxActiveKeys = maxActiveKeys;
  }

  /** keystone-manage fernet_setup: creates the repository with a staged and a primary key if empty. */
  setup(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (this.indexes().length === 0) {
      this.writeKey(0, newFernetKey());
      this.writeKey(1, newFernetKey());
    } else if (!this.indexes().includes(0)) {
      this.writeKey(0, newFernetKey());
    }
    this.load();
  }

  /** keystone-manage fernet_rotate. Returns the new primary key index. */
  rotate(): number {
    this.setup();
    const idx = this.indexes();
    const next = Math.max(...idx) + 1;
    // The staged key becomes the primary; a fresh key is staged for the next rotation.
    renameSync(join(this.dir, '0'), join(this.dir, String(next)));
    this.writeKey(0, newFernetKey());
    const secondaries = this.indexes().filter((i) => i !== 0 && i !== next).sort((a, b) => a - b);
    // Keep maxActiveKeys keys in total: staged + primary + (max - 2) secondaries.
    while (secondaries.length > Math.max(this.maxActiveKeys - 2, 0)) {
      unlinkSync(join(this.dir, String(secondaries.shift())));
    }
    this.load();
    return next;
  }

  private indexes(): number[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir).filter((f) => /^\d+$/.test(f)).map(Number);
  }

  private writeKey(index: number, key: string) {
    const tmp = join(this.dir, `.tmp-${index}-${process.pid}`);
    writeFileSync(tmp, key, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, join(this.dir, String(index)));
  }

  private stamp(): string {
    return this.indexes().sort((a, b) => a - b).map((i) => `${i}:${statSync(join(this.dir, String(i))).mtimeMs}`).join(',');
  }

  /** (Re)reads the repository; another process (or the rotate command) may have changed it. */
  load(): boolean {
    const stamp = this.stamp();
    if (stamp === this.loadedStamp) return false;
    const idx = this.indexes().sort((a, b) => b - a);
    if (!idx.length) throw new Error(`no Fernet keys in ${this.dir}`);
    this.keys = idx.map((i) => parseKey(i, readFileSync(join(this.dir, String(i)), 'utf8')));
    this.loadedStamp = stamp;
    return true;
  }

  get primaryIndex(): number { return this.keys[0].index; }

  encrypt(plain: Buffer, nowSec = Math.floor(Date.now() / 1000)): string {
    const key = this.keys[0];
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-128-cbc', key.encryption, iv);
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    const head = Buffer.alloc(9);
    head[0] = VERSION;
    head.writeBigUInt64BE(BigInt(nowSec), 1);
    const body = Buffer.concat([head, iv, ct]);
    const mac = createHmac('sha256', key.signing).update(body).digest();
    // Keystone strips the base64 padding from its tokens.
    return Buffer.concat([body, mac]).toString('base64url');
  }

  /** The plaintext and Fernet timestamp, or null when no key authenticates the token. */
  decrypt(token: string): { plain: Buffer; timestamp: number } | null {
    if (token.length < 80 || token.length > 8192 || !/^[A-Za-z0-9_-]+={0,2}$/.test(token)) return null;
    const raw = Buffer.from(token.replace(/=+$/, ''), 'base64url');
    if (raw.length < 57 + 16 || raw[0] !== VERSION || (raw.length - 57) % 16 !== 0) return null;
    const body = raw.subarray(0, raw.length - 32);
    const mac = raw.subarray(raw.length - 32);
    for (const key of this.keys) {
      const want = createHmac('sha256', key.signing).update(body).digest();
      if (!timingSafeEqual(want, mac)) continue;
      try {
        const d = createDecipheriv('aes-128-cbc', key.encryption, body.subarray(9, 25));
        const plain = Buffer.concat([d.update(body.subarray(25)), d.final()]);
        return { plain, timestamp: Number(body.readBigUInt64BE(1)) };
      } catch {
        return null;
      }
    }
    return null;
  }
}
