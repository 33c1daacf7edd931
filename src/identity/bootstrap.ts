// keystone-manage bootstrap plus DevStack's accounts, run at every start and idempotent: the
// Default domain; roles admin > member > reader (implied) and service; project and user admin
// (admin role on the admin project and on the system); unless seeding is off, project and user
// demo (member) and alt_demo likewise; the region; one service with public/internal/admin
// endpoints per catalog entry.
// Endpoints made here follow the current public URL (the port may change between starts), and
// the admin and demo passwords follow the configuration.
import type { Tx } from '../core/db/index.ts';
import type { CatalogEntry } from '../core/service.ts';
import { hexId } from '../core/ids.ts';
import { type Keystone, DEFAULT_DOMAIN_ID, SYSTEM_TARGET } from './keystone.ts';
import { createDomain, getDomain } from './domains.ts';
import { createProject, getProjectByName } from './projects.ts';
import { createUser, getUserByName, type User } from './users.ts';
import { createRole, getRoleByName, type Role } from './roles.ts';
import { createGrant } from './assignments.ts';
import { getRegion, putRegion, listServices, listEndpoints, putService, putEndpoint, INTERFACES } from './catalog.ts';

/**
 * Hashes of the configured passwords, shared by every cloud this process starts (tests start
 * many): a bcrypt hash is as good in any database, and making one takes a good part of a second.
 */
const bootstrapHashes = new Map<string, Promise<string>>();

export const IDENTITY_CATALOG_ENTRY: CatalogEntry = { type: 'identity', name: 'keystone', path: '/identity/v3' };

/**
 * Runs the bootstrap. Accounts that are new get their configured password hashed now; for
 * accounts that exist, checking that the configured password still matches costs a bcrypt
 * verification each, so that is returned as a job to run after the cloud is ready (restarts stay
 * fast; a changed VISTACK_ADMIN_PASSWORD takes effect a moment later).
 */
export async function bootstrap(ks: Keystone): Promise<() => Promise<void>> {
  const { config } = ks.ctx;
  // The admin account is keystone-manage bootstrap's and always there; demo and alt_demo are
  // DevStack's demo data, left out when seeding is off.
  const accounts = [
    { user: 'admin', project: 'admin', password: config.adminPassword, role: 'admin' },
    ...(config.seed ? [
      { user: 'demo', project: 'demo', password: config.demoPassword, role: 'member' },
      { user: 'alt_demo', project: 'alt_demo', password: config.demoPassword, role: 'member' },
    ] : []),
  ];
  // bcrypt is slow: hash the passwords of new accounts before the transaction.
  const wanted = new Map<string, string>();
  const existing: typeof accounts = [];
  await Promise.all(accounts.map(async (a) => {
    if (await getUserByName(ks.db, DEFAULT_DOMAIN_ID, a.user)) { existing.push(a); return; }
    wanted.set(a.user, await hashOnce(ks, a.password));
  }));

  await ks.db.tx(async (tx) => {
    await tx.lock('identity-bootstrap');
    if (!(await getDomain(tx, DEFAULT_DOMAIN_ID))) {
      await createDomain(tx, { id: DEFAULT_DOMAIN_ID, name: 'Default', description: 'The default domain' });
    }
    const role = async (name: string, immutable: boolean): Promise<Role> =>
      (await getRoleByName(tx, name)) ?? createRole(tx, { name, domainId: null, options: immutable ? { immutable: true } : {} });
    const admin = await role('admin', true), member = await role('member', true), reader = await role('reader', true);
    await role('service', false);
    // DevStack's roles for Heat: stack owners, and the users Heat creates for guests (denied the API).
    await role('heat_stack_owner', false);
    await role('heat_stack_user', false);
    for (const [prior, implied] of [[admin, member], [member, reader]]) {
      await tx.run(`INSERT INTO identity_implied_roles (prior_role_id, implied_role_id) VALUES (?, ?)
        ON CONFLICT (prior_role_id, implied_role_id) DO NOTHING`, [prior.id, implied.id]);
    }
    const roleIds: Record<string, string> = { admin: admin.id, member: member.id };

    for (const a of accounts) {
      const project = (await getProjectByName(tx, DEFAULT_DOMAIN_ID, a.project))
        ?? await createProject(tx, { name: a.project, domainId: DEFAULT_DOMAIN_ID, description: `Bootstrap project ${a.project}` });
      let user: User | null = await getUserByName(tx, DEFAULT_DOMAIN_ID, a.user);
      const hash = wanted.get(a.user);
      if (!user) {
        user = await createUser(tx, { name: a.user, domainId: DEFAULT_DOMAIN_ID, passwordHash: hash ?? null, defaultProjectId: null });
      }
      await createGrant(tx, { actorType: 'user', actorId: user.id, targetType: 'project', targetId: project.id, roleId: roleIds[a.role], inherited: false });
      if (a.user === 'admin') {
        await createGrant(tx, { actorType: 'user', actorId: user.id, targetType: 'system', targetId: SYSTEM_TARGET, roleId: admin.id, inherited: false });
      }
    }

    if (!(await getRegion(tx, config.region))) await putRegion(tx, { id: config.region, description: '', parentRegionId: null, extra: {} });
    const entries = [IDENTITY_CATALOG_ENTRY, ...ks.ctx.catalog.filter((e) => e.type !== 'identity')];
    for (const entry of entries) await registerService(tx, entry, config.publicUrl, config.region);
  });
  ks.catalog.invalidate();

  return async () => {
    for (const a of existing) {
      const u = await getUserByName(ks.db, DEFAULT_DOMAIN_ID, a.user);
      if (!u || (await ks.hasher.verify(a.password, u.passwordHash))) continue;
      const hash = await hashOnce(ks, a.password);
      await ks.db.tx(async (tx) => {
        await tx.run('UPDATE identity_users SET password_hash = ? WHERE id = ?', [hash, u.id]);
        await ks.revocations.revoke(tx, { user_id: u.id });
      });
    }
  };
}

function hashOnce(ks: Keystone, password: string): Promise<string> {
  if (!bootstrapHashes.has(password)) {
    const h = ks.hasher.hash(password);
    bootstrapHashes.set(password, h);
    h.catch(() => bootstrapHashes.delete(password));
  }
  return bootstrapHashes.get(password)!;
}

async function registerService(tx: Tx, entry: CatalogEntry, publicUrl: string, region: string) {
  const url = publicUrl + entry.path;
  let service = (await listServices(tx, { type: entry.type })).find((s) => s.name === entry.name);
  if (!service) {
    service = { id: hexId(), type: entry.type, enabled: true, name: entry.name, description: null, extra: {} };
    await putService(tx, service);
  }
  const eps = await listEndpoints(tx, { serviceId: service.id, regionId: region });
  for (const iface of INTERFACES) {
    const ep = eps.find((e) => e.interface === iface);
    if (!ep) {
      await putEndpoint(tx, { id: hexId(), serviceId: service.id, interface: iface, regionId: region, url, enabled: true, extra: {} });
    } else if (ep.url !== url && ep.url.endsWith(entry.path)) {
      // Made here at an earlier start (same path): follow the current public URL.
      await putEndpoint(tx, { ...ep, url });
    }
  }
}
