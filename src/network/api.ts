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
}
