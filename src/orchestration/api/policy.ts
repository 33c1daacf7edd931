// Heat's policy defaults (heat/policies), the secure-RBAC ones: readers may look, members may
// change, system-scoped readers/admins see and act on every project, and a stack user (the
// heat_stack_user role Heat gives the credentials it hands to servers) may only read metadata
// and signal. context_is_admin is the shared rule of BASE_RULES (role:admin).

const SYSTEM_ADMIN = 'role:admin and system_scope:all';
const SYSTEM_READER = 'role:reader and system_scope:all';
const PROJECT_MEMBER = 'role:member and project_id:%(project_id)s';
const PROJECT_READER = 'role:reader and project_id:%(project_id)s';
const PROJECT_STACK_USER = 'role:heat_stack_user and project_id:%(project_id)s';

const ADMIN_OR_MEMBER = `(${SYSTEM_ADMIN}) or (${PROJECT_MEMBER})`;
const READER = `(${SYSTEM_READER}) or (${PROJECT_READER})`;
const READER_OR_STACK_USER = `(${SYSTEM_READER}) or (${PROJECT_READER}) or (${PROJECT_STACK_USER})`;

const rules = (names: string[], rule: string) => Object.fromEntries(names.map((n) => [n, rule]));

/** Resource types only admins may use (and see in GET /resource_types). */
export const ADMIN_RESOURCE_TYPES = [
  'OS::Nova::Flavor', 'OS::Cinder::EncryptedVolumeType', 'OS::Cinder::VolumeType', 'OS::Cinder::Quota',
  'OS::Neutron::Quota', 'OS::Nova::Quota', 'OS::Manila::ShareType', 'OS::Neutron::ProviderNet',
  'OS::Neutron::QoSPolicy', 'OS::Neutron::QoSBandwidthLimitRule', 'OS::Neutron::Segment',
  'OS::Nova::HostAggregate', 'OS::Cinder::QoSSpecs', 'OS::Cinder::QoSAssociation', 'OS::Keystone::*',
  'OS::Blazar::Host',
];

export const HEAT_POLICY: Record<string, string> = {
  project_admin: 'role:admin',
  deny_stack_user: 'not role:heat_stack_user',
  deny_everybody: '!',
  allow_everybody: '',

  ...rules(['stacks:abandon', 'stacks:create', 'stacks:delete', 'stacks:export', 'stacks:generate_template',
    'stacks:update', 'stacks:update_patch', 'stacks:preview_update', 'stacks:preview_update_patch',
    'stacks:validate_template', 'stacks:snapshot', 'stacks:delete_snapshot', 'stacks:restore_snapshot'], ADMIN_OR_MEMBER),
  'stacks:update_no_change': 'rule:stacks:update_patch',
  ...rules(['stacks:detail', 'stacks:index', 'stacks:list_resource_types', 'stacks:list_template_versions',
    'stacks:list_template_functions', 'stacks:preview', 'stacks:resource_schema', 'stacks:show', 'stacks:template',
    'stacks:environment', 'stacks:files', 'stacks:show_snapshot', 'stacks:list_snapshots', 'stacks:list_outputs',
    'stacks:show_output'], READER),
  'stacks:global_index': SYSTEM_READER,
  'stacks:lookup': READER_OR_STACK_USER,

  ...rules(['actions:action', 'actions:snapshot', 'actions:suspend', 'actions:resume', 'actions:cancel_update',
    'actions:cancel_without_rollback'], ADMIN_OR_MEMBER),
  'actions:check': READER,

  'resource:index': READER,
  'resource:show': READER,
  'resource:metadata': READER_OR_STACK_USER,
  'resource:signal': READER_OR_STACK_USER,
  'resource:mark_unhealthy': ADMIN_OR_MEMBER,

  'events:index': READER,
  'events:show': READER,

  'build_info:build_info': 'rule:deny_stack_user',
  'service:index': SYSTEM_READER,

  'software_configs:global_index': SYSTEM_READER,
  'software_configs:index': READER,
  'software_configs:create': ADMIN_OR_MEMBER,
  'software_configs:show': READER,
  'software_configs:delete': ADMIN_OR_MEMBER,
  'software_deployments:index': READER,
  'software_deployments:create': ADMIN_OR_MEMBER,
  'software_deployments:show': READER,
  'software_deployments:update': ADMIN_OR_MEMBER,
  'software_deployments:delete': ADMIN_OR_MEMBER,
  'software_deployments:metadata': READER_OR_STACK_USER,

  ...rules(ADMIN_RESOURCE_TYPES.map((t) => `resource_types:${t}`), 'rule:project_admin'),
};
