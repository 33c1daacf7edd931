// Keystone v3 at /identity: version discovery, token issue/validation/revocation (Fernet tokens
// validated without the database), and the identity, resource, assignment and catalog APIs, with
// Keystone's error format ({"error": {"code", "message", "title"}}) and default policies.
import type { ServiceModule, Context } from '../core/service.ts';
import { useErrorFormat } from '../core/http.ts';
import { HTTP_TITLES } from '../core/errors.ts';
import { migrations } from './schema.ts';
import { KEYSTONE_POLICY } from './policy.ts';
import { Keystone } from './keystone.ts';
import { TokenError } from './tokens.ts';
import { bootstrap } from './bootstrap.ts';
import { identityApi } from './api.ts';
import { versionRoutes } from './routes/versions.ts';
import { authRoutes } from './routes/auth.ts';
import { v3Routes } from './routes/index.ts';
import { unauthorized as unauthorizedError } from './keystone.ts';

// One process may run several clouds (tests): each context has its own identity service.
const instances = new WeakMap<Context, Keystone>();
const passwordChecks = new WeakMap<Context, () => Promise<void>>();
const pendingChecks = new WeakMap<Context, Promise<void>>();

/** The identity service of a running cloud (tests reach its internals through it). */
export function keystoneOf(ctx: Context): Keystone {
  const ks = instances.get(ctx);
  if (!ks) throw new Error('identity module not initialised');
  return ks;
}

export const identity: ServiceModule = {
  name: 'identity',
  prefix: '/identity',
  migrations,
  policy: KEYSTONE_POLICY,
  async init(ctx) {
    const ks = new Keystone(ctx);
    instances.set(ctx, ks);
    await ks.revocations.refresh();
    ctx.tokens = {
      async validate(token: string) {
        try {
          return ks.tokens.check(token).auth;
        } catch (e) {
          if (e instanceof TokenError) throw unauthorizedError();
          throw e;
        }
      },
    };
    ctx.services.identity = identityApi(ks);
  },
  async seed(ctx) {
    passwordChecks.set(ctx, await bootstrap(keystoneOf(ctx)));
  },
  async start(ctx) {
    keystoneOf(ctx).start();
    // After ready: re-apply the configured passwords to existing accounts (see bootstrap()).
    const check = passwordChecks.get(ctx);
    passwordChecks.delete(ctx);
    if (check) pendingChecks.set(ctx, check().catch((e) => ctx.log.error('applying the configured passwords failed', e)));
  },
  async stop(ctx) {
    await pendingChecks.get(ctx);
    pendingChecks.delete(ctx);
    await instances.get(ctx)?.close();
    instances.delete(ctx);
  },
  async routes(app, ctx) {
    const ks = keystoneOf(ctx);
    useErrorFormat(app, ctx, (e) => {
      if (e.status === 401) e.extra.headers = { ...e.extra.headers, 'WWW-Authenticate': `Keystone uri="${ctx.config.publicUrl}/identity"` };
      return { body: { error: { code: e.status, message: e.message, title: HTTP_TITLES[e.status] ?? 'Error' } } };
    });
    await versionRoutes(app, ks);
    await app.register(async (v3) => {
      await authRoutes(v3, ks);
      await v3Routes(v3, ks);
    }, { prefix: '/v3' });
  },
};
