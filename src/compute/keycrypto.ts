// Key pair cryptography as Nova does it (nova/crypto.py), with node:crypto only:
//  - generated SSH keys: RSA 2048, private key PEM (PKCS#1, as paramiko writes it), public key
//    "ssh-rsa <base64> Generated-by-Nova";
//  - SSH fingerprint: MD5 of the decoded key blob, colon-separated hex;
//  - x509: SHA-1 fingerprint of the DER certificate; generated x509 key pairs are self-signed
//    client certificates for CN=<user_id> with a UPN subjectAltName (what Nova asks openssl for).
import { createHash, createPublicKey, generateKeyPair, sign, X509Certificate, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

const genKeyPair = promisify(generateKeyPair);

const colonHex = (buf: Buffer) => buf.toString('hex').match(/../g)!.join(':');

/** Reads the SSH wire-format strings of a key blob; null when malformed. */
function sshStrings(blob: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let i = 0;
  while (i < blob.length) {
    if (i + 4 > blob.length) return null;
    const n = blob.readUInt32BE(i);
    i += 4;
    if (i + n > blob.length) return null;
    out.push(blob.subarray(i, i + n));
    i += n;
  }
  return out;
}

const b64url = (b: Buffer) => b.toString('base64url');
const unsigned = (b: Buffer) => { let i = 0; while (i < b.length - 1 && b[i] === 0) i++; return b.subarray(i); };

const CURVES: Record<string, { crv: string; size: number }> = {
  nistp256: { crv: 'P-256', size: 32 }, nistp384: { crv: 'P-384', size: 48 }, nistp521: { crv: 'P-521', size: 66 },
};

/**
 * Loads an OpenSSH public key line ("<type> <base64> [comment]") into a KeyObject, the way
 * cryptography's load_ssh_public_key accepts it; throws on anything else.
 */
function loadSshPublicKey(line: string): KeyObject | null {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2) throw new Error('not an ssh public key');
  const [type, data] = parts;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new Error('bad base64');
  const blob = Buffer.from(data, 'base64');
  const s = sshStrings(blob);
  if (!s || !s.length || s[0].toString('latin1') !== type) throw new Error('key type mismatch');
  if (type === 'ssh-rsa' && s.length === 3) {
    return createPublicKey({ key: { kty: 'RSA', e: b64url(unsigned(s[1])), n: b64url(unsigned(s[2])) }, format: 'jwk' });
  }
  if (type === 'ssh-ed25519' && s.length === 2 && s[1].length === 32) {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(s[1]) }, format: 'jwk' });
  }
  const ec = /^ecdsa-sha2-(nistp256|nistp384|nistp521)$/.exec(type);
  if (ec && s.length === 3 && s[1].toString('latin1') === ec[1]) {
    const { crv, size } = CURVES[ec[1]];
    const q = s[2];
    if (q.length !== 1 + 2 * size || q[0] !== 4) throw new Error('bad ec point');
    return createPublicKey({ key: { kty: 'EC', crv, x: b64url(q.subarray(1, 1 + size)), y: b64url(q.subarray(1 + size)) }, format: 'jwk' });
  }
  // DSA keys (p, q, g, y) have no JWK form in node:crypto; their structure is all we check.
  if (type === 'ssh-dss' && s.length === 5 && s.slice(1).every((x) => x.length > 0)) return null;
  throw new Error(`unsupported key type ${type}`);
}

/** Nova's generate_fingerprint: validates the key and returns MD5(blob) as aa:bb:... */
export function sshFingerprint(publicKey: string): string {
  try {
    loadSshPublicKey(publicKey);
    // Nova hashes the second space-separated field as given.
    const blob = Buffer.from(publicKey.split(' ')[1], 'base64');
    return colonHex(createHash('md5').update(blob).digest());
  } catch {
    throw new Error('failed to generate fingerprint');
  }
}

/** Nova's generate_x509_fingerprint: SHA-1 of the certificate, lower-case colon hex. */
export function x509Fingerprint(pem: string): string {
  try {
    const cert = new X509Certificate(pem);
    return colonHex(createHash('sha1').update(cert.raw).digest());
  } catch (e) {
    throw new Error(`failed to generate X509 fingerprint. Error message: ${(e as Error).message}`);
  }
}

function sshString(b: Buffer) { const len = Buffer.alloc(4); len.writeUInt32BE(b.length); return Buffer.concat([len, b]); }
/** An SSH mpint: big-endian, with a leading zero byte when the high bit is set. */
function mpint(b: Buffer) { const u = unsigned(b); return sshString(u[0] & 0x80 ? Buffer.concat([Buffer.from([0]), u]) : u); }

/** A fresh RSA 2048 key pair: [private PEM (PKCS#1), "ssh-rsa ... Generated-by-Nova", fingerprint]. */
export async function generateSshKeyPair(): Promise<{ privateKey: string; publicKey: string; fingerprint: string }> {
  const { publicKey, privateKey } = await genKeyPair('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(Buffer.from(jwk.e, 'base64url')), mpint(Buffer.from(jwk.n, 'base64url'))]);
  const pub = `ssh-rsa ${blob.toString('base64')} Generated-by-Nova`;
  return { privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string, publicKey: pub, fingerprint: sshFingerprint(pub) };
}

// --- minimal DER encoding for the self-signed x509 certificate ---------------------------------

function derLen(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) { bytes.unshift(n & 0xff); n >>= 8; }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), derLen(body.length), body]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const octets = (b: Buffer) => tlv(0x04, b);
const ctx = (n: number, body: Buffer) => tlv(0xa0 + n, body);
function oid(dotted: string): Buffer {
  const p = dotted.split('.').map(Number);
  const out = [40 * p[0] + p[1]];
  for (const v of p.slice(2)) {
    const stack = [v & 0x7f];
    let x = v >> 7;
    while (x > 0) { stack.unshift((x & 0x7f) | 0x80); x >>= 7; }
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}
function integer(b: Buffer): Buffer { const u = unsigned(b); return tlv(0x02, u[0] & 0x80 ? Buffer.concat([Buffer.from([0]), u]) : u); }
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

/** Nova's generate_winrm_x509_cert: [private PEM (PKCS#8), certificate PEM, fingerprint]. */
export async function generateX509KeyPair(userId: string): Promise<{ privateKey: string; publicKey: string; fingerprint: string }> {
  const { publicKey, privateKey } = await genKeyPair('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const sha256Rsa = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const name = seq(set(seq(oid('2.5.4.3'), utf8(userId))));
  const now = new Date();
  const later = new Date(now.getTime() + 3650 * 86400_000);
  const serial = randomBytes(16); serial[0] &= 0x7f;
  const eku = seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.2'))));
  const upn = ctx(0, Buffer.concat([oid('1.3.6.1.4.1.311.20.2.3'), ctx(0, utf8(`${userId}@localhost`))]));
  const san = seq(oid('2.5.29.17'), octets(seq(upn)));
  const tbs = seq(
    ctx(0, integer(Buffer.from([2]))), integer(serial), sha256Rsa, name, seq(time(now), time(later)), name,
    publicKey.export({ type: 'spki', format: 'der' }) as Buffer, ctx(3, seq(eku, san)),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, sha256Rsa, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: pem, fingerprint: x509Fingerprint(pem) };
}
