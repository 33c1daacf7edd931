// Neutron's default policy rules (secure-RBAC defaults, rule names as in neutron/conf/policies).
// Visibility of shared and external networks is decided in the queries (a row-level rule the
// policy language here cannot express); these rules decide who may act.
const member = 'rule:project_member_or_admin';
const reader = 'rule:project_reader_or_admin';
const admin = 'rule:context_is_admin';

export const NEUTRON_POLICY: Record<string, string> = {
  create_network: member,
  'create_network:shared': admin,
  'create_network:router:external': admin,
  'create_network:is_default': admin,
  'create_network:port_security_enabled': member,
  'create_network:provider:network_type': admin,
  'create_network:provider:physical_network': admin,
  'create_network:provider:segmentation_id': admin,
  get_network: reader,
  update_network: member,
  'update_network:shared': admin,
  'update_network:router:external': admin,
  delete_network: member,

  create_subnet: member,
  get_subnet: reader,
  update_subnet: member,
  delete_subnet: member,

  create_port: member,
  'create_port:fixed_ips': `${admin} or role:member and project_id:%(network_project_id)s`,
  'create_port:binding:host_id': admin,
  'create_port:binding:profile': admin,
  get_port: reader,
  update_port: member,
  delete_port: member,

  get_quota: reader,
  update_quota: admin,
  delete_quota: admin,

  create_security_group: member,
  get_security_group: reader,
  update_security_group: member,
  delete_security_group: member,
  create_security_group_rule: member,
  get_security_group_rule: reader,
  delete_security_group_rule: member,

  create_router: member,
  get_router: reader,
  update_router: member,
  'update_router:external_gateway_info:enable_snat': admin,
  delete_router: member,
  add_router_interface: member,
  remove_router_interface: member,
  create_floatingip: member,
  'create_floatingip:floating_ip_address': admin,
  get_floatingip: reader,
  update_floatingip: member,
  delete_floatingip: member,

  get_tags: reader,
  update_tags: member,

  create_subnetpool: member,
  'create_subnetpool:shared': admin,
  'create_subnetpool:is_default': admin,
  get_subnetpool: reader,
  update_subnetpool: member,
  'update_subnetpool:is_default': admin,
  delete_subnetpool: member,

  create_rbac_policy: member,
  // Checked only when the target is '*' (Neutron's restrict_wildcard).
  'create_rbac_policy:target_tenant': admin,
  get_rbac_policy: reader,
  update_rbac_policy: member,
  'update_rbac_policy:target_tenant': admin,
  delete_rbac_policy: member,

  get_availability_zone: reader,
};
