// Neutron's core tables: networks (with their segment and backing port group), subnets, ports and
// their IP allocations, and tags. Lists of small values (allocation pools, DNS servers, address
// pairs ...) are JSON text. The primary key of ipallocations makes a duplicate address impossible
// even if two transactions raced past IPAM's per-subnet lock.
import type { Migration } from '../core/db/migrate.ts';

export const coreMigrations: Migration[] = [{
  id: 'network-001-core',
  sql: [
    `CREATE TABLE neutron_networks (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT '',
      description TEXT NOT NULL DEFAULT '',
      admin_state_up INTEGER NOT NULL DEFAULT 1,
      status TEXT NOT NULL DEFAULT 'ACTIVE',
      shared INTEGER NOT NULL DEFAULT 0,
      router_external INTEGER NOT NULL DEFAULT 0,
      mtu INTEGER NOT NULL DEFAULT 1500,
      port_security_enabled INTEGER NOT NULL DEFAULT 1,
      network_type TEXT NOT NULL,
      physical_network TEXT,
      segmentation_id INTEGER,
      port_group TEXT,
      availability_zone_hints TEXT NOT NULL DEFAULT '[]',
      revision_number INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    `CREATE UNIQUE INDEX neutron_networks_segment ON neutron_networks (network_type, physical_network, segmentation_id)`,
    `CREATE INDEX neutron_networks_project ON neutron_networks (project_id)`,
    `CREATE TABLE neutron_subnets (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      network_id TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT '',
      description TEXT NOT NULL DEFAULT '',
      ip_version INTEGER NOT NULL,
      cidr TEXT NOT NULL,
      gateway_ip TEXT,
      enable_dhcp INTEGER NOT NULL DEFAULT 1,
      allocation_pools TEXT NOT NULL DEFAULT '[]',
      dns_nameservers TEXT NOT NULL DEFAULT '[]',
      host_routes TEXT NOT NULL DEFAULT '[]',
      ipv6_ra_mode TEXT,
      ipv6_address_mode TEXT,
      subnetpool_id TEXT,
      revision_number INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    `CREATE INDEX neutron_subnets_network ON neutron_subnets (network_id)`,
    `CREATE TABLE neutron_ports (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      network_id TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT '',
      description TEXT NOT NULL DEFAULT '',
      mac_address TEXT NOT NULL UNIQUE,
      admin_state_up INTEGER NOT NULL DEFAULT 1,
      status TEXT NOT NULL DEFAULT 'DOWN',
      device_id TEXT NOT NULL DEFAULT '',
      device_owner TEXT NOT NULL DEFAULT '',
      binding_host_id TEXT NOT NULL DEFAULT '',
      binding_vnic_type TEXT NOT NULL DEFAULT 'normal',
      binding_profile TEXT NOT NULL DEFAULT '{}',
      port_security_enabled INTEGER NOT NULL DEFAULT 1,
      security_groups TEXT NOT NULL DEFAULT '[]',
      allowed_address_pairs TEXT NOT NULL DEFAULT '[]',
      extra_dhcp_opts TEXT NOT NULL DEFAULT '[]',
      nova_owned INTEGER NOT NULL DEFAULT 0,
      nova_tag TEXT,
      revision_number INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    `CREATE INDEX neutron_ports_network ON neutron_ports (network_id)`,
    `CREATE INDEX neutron_ports_device ON neutron_ports (device_id)`,
    `CREATE TABLE neutron_ipallocations (
      subnet_id TEXT NOT NULL,
      ip_address TEXT NOT NULL,
      port_id TEXT NOT NULL,
      network_id TEXT NOT NULL,
      PRIMARY KEY (subnet_id, ip_address)
    )`,
    `CREATE INDEX neutron_ipallocations_port ON neutron_ipallocations (port_id)`,
    `CREATE TABLE neutron_tags (
      resource_type TEXT NOT NULL,
      resource_id TEXT NOT NULL,
      tag TEXT NOT NULL,
      PRIMARY KEY (resource_type, resource_id, tag)
    )`,
  ].join(';\n'),
}];

/** Neutron's timestamp form: seconds, UTC, "Z". */
export const neutronTime = (iso: string | null | undefined) => (iso ? `${iso.slice(0, 19)}Z` : null);
