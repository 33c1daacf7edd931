// Neutron's default policy rules (secure RBAC defaults, same rule names as neutron/conf/policies).
export const NEUTRON_POLICY: Record<string, string> = {};
