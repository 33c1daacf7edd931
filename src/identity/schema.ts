// Keystone's tables, in the SQL subset both SQLite and PostgreSQL run. Domains have their own
// table (Keystone stores them as is_domain projects; the API shows them apart anyway). Role
// assignments of every kind (user/group on project/domain/system, inherited or not) share one
// table, as Keystone's `assignment` table does plus its `system_assignment` one.
import type { Migration } from '../core/db/migrate.ts';

export const migrations: Migration[] = [{
  id: 'identity-001-base',
  sql: `CREATE TABLE identity_domains (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
  );
  CREATE TABLE identity_projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES identity_domains(id),
    parent_id TEXT REFERENCES identity_projects(id),
    description TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (domain_id, name)
  );
  CREATE INDEX identity_projects_parent_idx ON identity_projects (parent_id);
  CREATE TABLE identity_project_tags (
    project_id TEXT NOT NULL REFERENCES identity_projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
  );
  CREATE TABLE identity_users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES identity_domains(id),
    enabled INTEGER NOT NULL DEFAULT 1,
    default_project_id TEXT,
    password_hash TEXT,
    password_created_at TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (domain_id, name)
  );
  CREATE TABLE identity_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES identity_domains(id),
    description TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (domain_id, name)
  );
  CREATE TABLE identity_user_groups (
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES identity_groups(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
  );
  CREATE INDEX identity_user_groups_group_idx ON identity_user_groups (group_id);
  CREATE TABLE identity_roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    description TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (name, domain_id)
  );
  CREATE TABLE identity_implied_roles (
    prior_role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
  );
  CREATE TABLE identity_assignments (
    type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    inherited INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (type, actor_id, target_id, role_id, inherited)
  );
  CREATE INDEX identity_assignments_actor_idx ON identity_assignments (actor_id);
  CREATE INDEX identity_assignments_target_idx ON identity_assignments (target_id);
  CREATE TABLE identity_regions (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT REFERENCES identity_regions(id),
    extra TEXT NOT NULL DEFAULT '{}'
  );
  CREATE TABLE identity_services (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}'
  );
  CREATE TABLE identity_endpoints (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES identity_services(id) ON DELETE CASCADE,
    interface TEXT NOT NULL,
    region_id TEXT REFERENCES identity_regions(id),
    url TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}'
  );
  CREATE TABLE identity_application_credentials (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    project_id TEXT,
    secret_hash TEXT NOT NULL,
    description TEXT,
    expires_at TEXT,
    unrestricted INTEGER NOT NULL DEFAULT 0,
    system TEXT,
    roles TEXT NOT NULL DEFAULT '[]',
    access_rules TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    UNIQUE (user_id, name)
  );
  CREATE TABLE identity_revocation_events (
    id TEXT PRIMARY KEY,
    domain_id TEXT,
    project_id TEXT,
    user_id TEXT,
    role_id TEXT,
    audit_id TEXT,
    audit_chain_id TEXT,
    application_credential_id TEXT,
    scope_id TEXT,
    issued_before BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT NOT NULL
  );
  CREATE INDEX identity_revocation_events_revoked_idx ON identity_revocation_events (revoked_at)`,
}];
