// Heat's tables. A stack row holds the desired state (template, environment, parameters) and the
// operation converging it; resource rows hold what was applied, so a resumed operation knows
// what exists. JSON columns are TEXT (toJson/fromJson).
import type { Migration } from '../core/db/migrate.ts';

export const orchestrationMigrations: Migration[] = [{
  id: 'orchestration-001-stacks',
  sql: `CREATE TABLE heat_stacks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    parent_id TEXT,
    owner_resource TEXT,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    template TEXT NOT NULL,
    environment TEXT NOT NULL,
    files TEXT NOT NULL,
    parameters TEXT NOT NULL,
    given_parameters TEXT NOT NULL,
    disable_rollback INTEGER NOT NULL DEFAULT 1,
    timeout_mins INTEGER,
    tags TEXT NOT NULL DEFAULT '[]',
    prev_template TEXT,
    prev_environment TEXT,
    prev_files TEXT,
    prev_parameters TEXT,
    prev_given_parameters TEXT,
    cancel INTEGER NOT NULL DEFAULT 0,
    operation_id TEXT,
    operation TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    deleted_at TEXT
  );
  CREATE UNIQUE INDEX heat_stacks_name_idx ON heat_stacks (project_id, name) WHERE deleted_at IS NULL;
  CREATE INDEX heat_stacks_parent_idx ON heat_stacks (parent_id);
  CREATE TABLE heat_resources (
    uuid TEXT PRIMARY KEY,
    stack_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    physical_id TEXT,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    properties TEXT,
    definition TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    metadata TEXT,
    requires TEXT NOT NULL DEFAULT '[]',
    physical_name TEXT NOT NULL,
    nested_stack_id TEXT,
    replaced_by TEXT,
    replaces TEXT,
    hook_state TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT
  );
  CREATE INDEX heat_resources_stack_idx ON heat_resources (stack_id, name);
  CREATE INDEX heat_resources_physical_idx ON heat_resources (physical_id, type);
  CREATE TABLE heat_resource_signals (
    id TEXT PRIMARY KEY,
    resource_uuid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    details TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX heat_resource_signals_idx ON heat_resource_signals (resource_uuid, seq);
  CREATE TABLE heat_events (
    id TEXT PRIMARY KEY,
    stack_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    resource_name TEXT NOT NULL,
    physical_resource_id TEXT,
    resource_type TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    properties TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX heat_events_stack_idx ON heat_events (stack_id, seq)`,
}];
