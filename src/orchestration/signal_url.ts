// Pre-signed signal URLs: what a guest (or a test) POSTs to, without a token, to signal a
// resource (a software deployment's deploy_signal_id, a wait condition handle's endpoint). Upstream
// Heat signs CFN-API URLs with an EC2 key of a stack domain user; here the URL carries an HMAC of
// the stack id and resource name under a key kept in the database, so every Vistack process
// sharing the database accepts the URLs any of them handed out.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from '../core/service.ts';
import type { Migration } from '../core/db/migrate.ts';
import type { Database } from '../core/db/index.ts';

export const signalMigrations: Migration[] = [{
  id: 'orchestration-signal-001-keys',
  sql: `CREATE TABLE heat_signal_keys (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL
  )`,
}];

const keys = new WeakMap<Database, Promise<Buffer>>();

function signingKey(db: Database): Promise<Buffer> {
  let k = keys.get(db);
  if (!k) {
    k = (async () => {
      await db.run(`INSERT INTO heat_signal_keys (id, secret) VALUES ('signal', ?) ON CONFLICT (id) DO NOTHING`,
        [randomBytes(32).toString('base64')]);
      const row = await db.get<{ secret: string }>(`SELECT secret FROM heat_signal_keys WHERE id = 'signal'`, []);
      return Buffer.from(row!.secret, 'base64');
    })();
    k.catch(() => keys.delete(db));
    keys.set(db, k);
  }
  return k;
}

function sign(key: Buffer, stackId: string, resourceName: string): string {
  return createHmac('sha256', key).update(`${stackId}\n${resourceName}`).digest('base64url');
}

/** The URL that signals `resourceName` of stack `stackId` when POSTed to (JSON body = the signal's details). */
export async function signalUrl(ctx: Context, stackId: string, resourceName: string): Promise<string> {
  const sig = sign(await signingKey(ctx.db), stackId, resourceName);
  return `${ctx.config.publicUrl}/heat-api/v1/signal/${stackId}/${encodeURIComponent(resourceName)}?signature=${sig}`;
}

export async function verifySignal(ctx: Context, stackId: string, resourceName: string, signature: unknown): Promise<boolean> {
  if (typeof signature !== 'string' || !signature) return false;
  const want = Buffer.from(sign(await signingKey(ctx.db), stackId, resourceName));
  const got = Buffer.from(signature);
  return got.length === want.length && timingSafeEqual(got, want);
}
