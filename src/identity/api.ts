// What the identity service offers the other services in-process.
import type { Keystone } from './keystone.ts';
import { getProject, getProjectByName } from './projects.ts';
import { getUser } from './users.ts';
import { getDomain } from './domains.ts';
import { issueDelegatedToken } from './auth.ts';

export interface ProjectRef {
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
  /** Parent project id; null for a top-level project. */
  parentId: string | null;
}

export interface UserRef {
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
}

export interface DomainRef {
  id: string;
  name: string;
  enabled: boolean;
}

export interface IdentityApi {
  getProject(id: string): Promise<ProjectRef | null>;
  /** A project by name within a domain (default: the Default domain). */
  getProjectByName(name: string, domainId?: string): Promise<ProjectRef | null>;
  getUser(id: string): Promise<UserRef | null>;
  getDomain(id: string): Promise<DomainRef | null>;
  /** A project-scoped token for a user, for work done on the user's behalf (Heat's engine). */
  issueDelegatedToken(userId: string, projectId: string): Promise<{ token: string; expiresAt: number }>;
}

export function identityApi(ks: Keystone): IdentityApi {
  const project = (p: Awaited<ReturnType<typeof getProject>>): ProjectRef | null =>
    p && { id: p.id, name: p.name, domainId: p.domainId, enabled: p.enabled, parentId: p.parentId };
  return {
    async getProject(id) { return project(await getProject(ks.db, id)); },
    async getProjectByName(name, domainId = 'default') { return project(await getProjectByName(ks.db, domainId, name)); },
    async getUser(id) {
      const u = await getUser(ks.db, id);
      return u && { id: u.id, name: u.name, domainId: u.domainId, enabled: u.enabled };
    },
    async getDomain(id) {
      const d = await getDomain(ks.db, id);
      return d && { id: d.id, name: d.name, enabled: d.enabled };
    },
    issueDelegatedToken: (userId, projectId) => issueDelegatedToken(ks, userId, projectId),
  };
}
