// What Neutron offers the other services in-process (Nova above all), in the spirit of
// nova/network/neutron.py: Nova never reaches into Neutron's tables, it calls this. The network
// module sets ctx.services.network in its init(). Errors are ApiErrors (src/core/errors.ts)
// whose messages Nova can pass on to its own callers.
import type { AuthContext } from '../core/auth.ts';

/** One entry of a server create's `networks` (or an interface attach). */
export interface RequestedNetwork {
  networkId?: string;
  portId?: string;
  fixedIp?: string;
  tag?: string | null;
}

/** A port bound to an instance, as Nova's network info cache sees it. */
export interface InstanceVif {
  portId: string;
  networkId: string;
  /** The network's name: the key of the server's `addresses`. */
  networkLabel: string;
  macAddress: string;
  /** The port group backing the network (the compute driver connects the NIC to it). */
  portGroup: string;
  fixedIps: { address: string; version: 4 | 6; subnetId: string }[];
  floatingIps: { address: string }[];
  /** true for a port the user created and passed in: unbound, not deleted, with the server. */
  preserveOnDelete: boolean;
  tag: string | null;
  /** The port's status (os-interface's port_state): ACTIVE once bound and plugged, DOWN ... */
  status?: string;
}

export interface AllocateRequest {
  instanceId: string;
  projectId: string;
  userId: string;
  hostname: string;
  /** The compute service host the instance landed on (binding:host_id). */
  host: string;
  availabilityZone: string;
  requested: RequestedNetwork[] | 'auto' | 'none';
  /** Names or ids of the project's security groups for the new ports ('default' if empty). */
  securityGroups: string[];
}

export interface SecurityGroupRef {
  id: string;
  name: string;
}

export interface SecurityGroupRuleInfo {
  id: string;
  securityGroupId: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  portRangeMin: number | null;
  portRangeMax: number | null;
  remoteIpPrefix: string | null;
  remoteGroupId: string | null;
}

export interface SecurityGroupInfo {
  id: string;
  name: string;
  description: string;
  projectId: string;
  rules: SecurityGroupRuleInfo[];
}

export interface FloatingIpInfo {
  id: string;
  address: string;
  /** The external network's name (Nova's "pool"). */
  pool: string;
  fixedAddress: string | null;
  instanceId: string | null;
}

export interface NetworkApi {
  /**
   * Nova's API-side check before a server is written: networks exist and are usable by the
   * project, ports exist, are unbound and belong to the project, fixed IPs are in a subnet of the
   * network and free, 'auto' has one usable network, security groups exist. 400/404/409 ApiErrors.
   */
  validateNetworks(auth: AuthContext, requested: RequestedNetwork[] | 'auto' | 'none', securityGroups: string[], count: number): Promise<void>;
  /** Creates (or binds given) ports for an instance. Idempotent: a rerun returns the same VIFs. */
  allocateForInstance(req: AllocateRequest): Promise<InstanceVif[]>;
  /** Deletes the ports Nova created for the instance and unbinds preserved ones. Idempotent. */
  deallocateForInstance(instanceId: string): Promise<void>;
  /** One more port for a running instance (interface attach). Idempotent per (instance, request). */
  allocatePort(req: Omit<AllocateRequest, 'requested'> & { requested: RequestedNetwork }): Promise<InstanceVif>;
  /** Interface detach: deletes or unbinds one port of the instance. Idempotent. */
  deallocatePort(instanceId: string, portId: string): Promise<void>;
  /** VIFs of many instances at once (server views, addresses, os-interface). */
  vifsForInstances(instanceIds: string[]): Promise<Map<string, InstanceVif[]>>;
  /** Security groups on the ports of each instance (server views). */
  securityGroupsForInstances(instanceIds: string[]): Promise<Map<string, SecurityGroupRef[]>>;
  /** addSecurityGroup / removeSecurityGroup server actions (name or id, the project's own). */
  addSecurityGroup(auth: AuthContext, instanceId: string, projectId: string, group: string): Promise<void>;
  removeSecurityGroup(auth: AuthContext, instanceId: string, projectId: string, group: string): Promise<void>;

  // ---- optional: what Nova's deprecated proxies (below 2.36) need, each as the caller sees it ----
  listNetworksFor?(auth: AuthContext): Promise<{ id: string; name: string }[]>;
  listSecurityGroupsFor?(auth: AuthContext, projectId: string): Promise<SecurityGroupInfo[]>;
  getSecurityGroup?(auth: AuthContext, id: string): Promise<SecurityGroupInfo | null>;
  createSecurityGroup?(auth: AuthContext, projectId: string, name: string, description: string): Promise<SecurityGroupInfo>;
  updateSecurityGroup?(auth: AuthContext, id: string, name: string, description: string): Promise<SecurityGroupInfo>;
  deleteSecurityGroup?(auth: AuthContext, id: string): Promise<void>;
  createSecurityGroupRule?(auth: AuthContext, rule: Omit<SecurityGroupRuleInfo, 'id'>): Promise<SecurityGroupRuleInfo>;
  deleteSecurityGroupRule?(auth: AuthContext, id: string): Promise<void>;
  listFloatingIpsFor?(auth: AuthContext, projectId: string): Promise<FloatingIpInfo[]>;
  /** os-floating-ip-pools: the names of the external networks the caller sees. */
  listFloatingIpPools?(auth: AuthContext): Promise<string[]>;
  allocateFloatingIp?(auth: AuthContext, projectId: string, pool: string | null): Promise<FloatingIpInfo>;
  releaseFloatingIp?(auth: AuthContext, id: string): Promise<void>;
  associateFloatingIp?(auth: AuthContext, instanceId: string, address: string, fixedAddress: string | null): Promise<void>;
  disassociateFloatingIp?(auth: AuthContext, instanceId: string, address: string): Promise<void>;
  /** addFixedIp (below 2.44): one more fixed IP on the instance's port on that network. */
  addFixedIp?(auth: AuthContext, instanceId: string, networkId: string): Promise<void>;
  /** removeFixedIp (below 2.44): the address off whichever port of the instance has it. */
  removeFixedIp?(auth: AuthContext, instanceId: string, address: string): Promise<void>;
}
