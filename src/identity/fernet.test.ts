// The Fernet key repository and token format: Keystone's layout (0 staged, highest primary),
// rotation keeps the previous keys able to decrypt, and tokens follow the Fernet spec (checked
// against Python's reference implementation when it is installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { FernetKeys } from './fernet.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'fernet-test-'));
const files = (dir: string) => readdirSync(dir).filter((f) => /^\d+$/.test(f)).map(Number).sort((a, b) => a - b);

test('setup creates a staged key 0 and a primary key 1, private to the owner', () => {
  const dir = tmp();
  try {
    const keys = new FernetKeys(join(dir, 'keys'));
    keys.setup();
    assert.deepEqual(files(keys.dir), [0, 1]);
    assert.equal(keys.primaryIndex, 1);
    assert.equal(statSync(join(keys.dir, '1')).mode & 0o777, 0o600);
    assert.equal(Buffer.from(readFileSync(join(keys.dir, '1'), 'utf8'), 'base64url').length, 32);
    // Idempotent
    keys.setup();
    assert.deepEqual(files(keys.dir), [0, 1]);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('round trip, tampering and wrong keys', () => {
  const dir = tmp();
  try {
    const keys = new FernetKeys(join(dir, 'a'));
    keys.setup();
    const tok = keys.encrypt(Buffer.from('hello'));
    assert.match(tok, /^gAAAAA[A-Za-z0-9_-]+$/);
    const d = keys.decrypt(tok)!;
    assert.equal(d.plain.toString(), 'hello');
    assert.ok(Math.abs(d.timestamp - Date.now() / 1000) < 5);
    // One flipped character anywhere breaks the HMAC.
    const i = 40;
    const bad = tok.slice(0, i) + (tok[i] === 'A' ? 'B' : 'A') + tok.slice(i + 1);
    assert.equal(keys.decrypt(bad), null);
    assert.equal(keys.decrypt('not-a-token'), null);
    assert.equal(keys.decrypt(''), null);
    const other = new FernetKeys(join(dir, 'b'));
    other.setup();
    assert.equal(other.decrypt(tok), null);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('rotation: staged key becomes primary, old keys still decrypt until pushed out', () => {
  const dir = tmp();
  try {
    const keys = new FernetKeys(join(dir, 'keys'), 3);
    keys.setup();
    const staged = readFileSync(join(keys.dir, '0'), 'utf8');
    const t1 = keys.encrypt(Buffer.from('one'));
    assert.equal(keys.rotate(), 2);
    assert.deepEqual(files(keys.dir), [0, 1, 2]);
    // The staged key was promoted as is: processes that had already loaded it can decrypt.
    assert.equal(readFileSync(join(keys.dir, '2'), 'utf8'), staged);
    assert.equal(keys.decrypt(t1)!.plain.toString(), 'one');
    const t2 = keys.encrypt(Buffer.from('two'));
    // A process that has not reloaded yet knows key 2 as its staged key.
    const lagging = new FernetKeys(keys.dir);
    lagging.load();
    assert.equal(lagging.decrypt(t2)!.plain.toString(), 'two');

    assert.equal(keys.rotate(), 3);
    assert.deepEqual(files(keys.dir), [0, 2, 3]);
    assert.equal(keys.decrypt(t1), null, 'key 1 is gone after two rotations with max 3 keys');
    assert.equal(keys.decrypt(t2)!.plain.toString(), 'two');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('tokens are readable by the reference Fernet implementation', (t) => {
  const probe = spawnSync('python3', ['-c', 'import cryptography.fernet'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip('python3 cryptography not installed');
  const dir = tmp();
  try {
    const keys = new FernetKeys(join(dir, 'keys'));
    keys.setup();
    const key = readFileSync(join(keys.dir, '1'), 'utf8');
    const tok = keys.encrypt(Buffer.from('payload'));
    // Keystone strips the padding from tokens and restores it before decrypting.
    const py = `import sys
from cryptography.fernet import Fernet
tok = sys.argv[2] + '=' * (-len(sys.argv[2]) % 4)
print(Fernet(sys.argv[1].encode()).decrypt(tok.encode()).decode())
sys.stdout.write(Fernet(sys.argv[1].encode()).encrypt(b'from python').decode().rstrip('='))`;
    const r = spawnSync('python3', ['-c', py, key, tok], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [first, second] = r.stdout.split('\n');
    assert.equal(first, 'payload');
    assert.equal(keys.decrypt(second)!.plain.toString(), 'from python');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
