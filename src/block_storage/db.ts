// Cinder's tables: volumes (with their VMDK location), volume types and their access lists,
// snapshots, attachments (the attachments API's records; Nova's attach flow and the legacy
// os-attach both write them), quotas and quota classes, the services' enabled/frozen state,
// and QoS specs with their volume type associations (a type has at most one). A volume's
// readonly is NULL until os-update_readonly_flag sets it (Cinder then shows it as metadata).
import type { Migration } from '../core/db/migrate.ts';

export const migrations: Migration[] = [{
  id: 'block-storage-001-core',
  sql: [
    `CREATE TABLE cinder_volume_types (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      description TEXT,
      is_public INTEGER NOT NULL DEFAULT 1,
      extra_specs TEXT NOT NULL DEFAULT '{}',
      access TEXT NOT NULL DEFAULT '[]',
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      deleted INTEGER NOT NULL DEFAULT 0
    )`,
    `CREATE TABLE cinder_volumes (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      name TEXT,
      description TEXT,
      size INTEGER NOT NULL,
      status TEXT NOT NULL,
      attach_status TEXT NOT NULL DEFAULT 'detached',
      availability_zone TEXT NOT NULL,
      volume_type_id TEXT NOT NULL,
      bootable INTEGER NOT NULL DEFAULT 0,
      readonly INTEGER,
      multiattach INTEGER NOT NULL DEFAULT 0,
      snapshot_id TEXT,
      source_volid TEXT,
      image_id TEXT,
      metadata TEXT NOT NULL DEFAULT '{}',
      image_metadata TEXT NOT NULL DEFAULT '{}',
      location TEXT,
      previous_status TEXT,
      launched_at TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    `CREATE INDEX cinder_volumes_project ON cinder_volumes (project_id)`,
    `CREATE TABLE cinder_snapshots (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      volume_id TEXT NOT NULL,
      name TEXT,
      description TEXT,
      size INTEGER NOT NULL,
      status TEXT NOT NULL,
      metadata TEXT NOT NULL DEFAULT '{}',
      location TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    `CREATE INDEX cinder_snapshots_volume ON cinder_snapshots (volume_id)`,
    `CREATE TABLE cinder_attachments (
      id TEXT PRIMARY KEY,
      volume_id TEXT NOT NULL,
      instance_id TEXT,
      project_id TEXT NOT NULL,
      status TEXT NOT NULL,
      attach_mode TEXT NOT NULL DEFAULT 'rw',
      mountpoint TEXT,
      host TEXT,
      connector TEXT,
      attached_at TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    `CREATE INDEX cinder_attachments_volume ON cinder_attachments (volume_id)`,
    `CREATE TABLE cinder_quotas (
      project_id TEXT NOT NULL,
      resource TEXT NOT NULL,
      hard_limit INTEGER NOT NULL,
      PRIMARY KEY (project_id, resource)
    )`,
    `CREATE TABLE cinder_quota_classes (
      class_name TEXT NOT NULL,
      resource TEXT NOT NULL,
      hard_limit INTEGER NOT NULL,
      PRIMARY KEY (class_name, resource)
    )`,
    `CREATE TABLE cinder_services (
      host TEXT NOT NULL,
      service_binary TEXT NOT NULL,
      disabled INTEGER NOT NULL DEFAULT 0,
      disabled_reason TEXT,
      frozen INTEGER NOT NULL DEFAULT 0,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (host, service_binary)
    )`,
    `CREATE TABLE cinder_qos_specs (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      consumer TEXT NOT NULL,
      specs TEXT NOT NULL DEFAULT '{}',
      created_at TEXT NOT NULL
    )`,
    `CREATE TABLE cinder_qos_associations (
      qos_id TEXT NOT NULL,
      type_id TEXT NOT NULL PRIMARY KEY
    )`,
  ].join(';\n'),
}];

/** Cinder's timestamp form: microseconds, no zone. */
export const cinderTime = (iso: string | null | undefined) => (iso ? `${iso.slice(0, 19)}.${iso.slice(20, 23).padEnd(6, '0')}` : null);
