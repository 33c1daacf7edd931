// The contracts between the parts of Heat: the template language (template/), the engine
// (engine/), the resource plugins (resources/) and the API (api/). Each part only sees the
// others through these types, so a reader can follow a stack create from the API to a plugin
// calling Nova without reading the engine's internals.
import { ApiError } from '../core/errors.ts';

export type StackAction = 'INIT' | 'CREATE' | 'UPDATE' | 'DELETE' | 'ROLLBACK' | 'SUSPEND' | 'RESUME' | 'CHECK' | 'ADOPT' | 'SNAPSHOT' | 'RESTORE';
export type ActionStatus = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';

/**
 * Heat's errors carry the name of the Heat exception class as error.type in the body
 * ({"code", "title", "explanation", "error": {"type", "message", "traceback"}}); the API renders
 * ApiError.extra.name there.
 */
export function heatError(status: number, type: string, message: string): ApiError {
  return new ApiError(status, message, { name: type });
}
/** A template or its inputs are wrong: 400 StackValidationFailed unless another type is given. */
export const validationFailed = (message: string, type = 'StackValidationFailed') => heatError(400, type, message);

// ------------------------------------------------------------------ template language

/** One parameter of a template, as written (HOT keys). */
export interface ParameterSchema {
  type: 'string' | 'number' | 'json' | 'comma_delimited_list' | 'boolean';
  label?: string;
  description?: string;
  default?: unknown;
  hidden?: boolean;
  constraints?: ParameterConstraint[];
  immutable?: boolean;
  tags?: string[];
}

/** Parameters and properties take the same constraint kinds (PropertyConstraint below). */
export type ParameterConstraint = PropertyConstraint;

/** A resource in a template, with its sections as written (functions not yet resolved). */
export interface ResourceDefinition {
  name: string;
  type: string;
  properties: Record<string, unknown>;
  metadata: unknown;
  dependsOn: string[];
  deletionPolicy: 'Delete' | 'Retain' | 'Snapshot';
  updatePolicy: Record<string, unknown>;
  externalId: unknown;
  condition: unknown;
}

export interface OutputDefinition {
  value: unknown;
  description?: string;
  condition?: unknown;
}

/** A parsed, structurally validated template (HOT, or CFN JSON/YAML with AWSTemplateFormatVersion). */
export interface Template {
  /** 'heat_template_version' | 'AWSTemplateFormatVersion' */
  versionKey: string;
  /** The date or alias as written, e.g. '2016-04-08' or 'pike' */
  version: string;
  /** e.g. 'heat_template_version.2016-04-08' (the key used by /template_versions) */
  versionId: string;
  description: string;
  parameters: Record<string, ParameterSchema>;
  parameterGroups: { label?: string; description?: string; parameters: string[] }[];
  resources: Record<string, ResourceDefinition>;
  outputs: Record<string, OutputDefinition>;
  conditions: Record<string, unknown>;
  /** The template as the user gave it (GET .../template answers this). */
  raw: Record<string, unknown>;
}

/** An environment: parameters, parameter_defaults, resource_registry, event_sinks. */
export interface Environment {
  parameters: Record<string, unknown>;
  parameter_defaults: Record<string, unknown>;
  resource_registry: Record<string, unknown>;
  event_sinks: unknown[];
  encrypted_param_names?: string[];
}

/** What functions need at resolution time; the engine provides it per stack. */
export interface FunctionContext {
  template: Template;
  /** Parameter values after defaults and type conversion, plus the pseudo parameters
   *  OS::stack_name, OS::stack_id, OS::project_id (and AWS::StackName, AWS::StackId, AWS::Region). */
  params: Record<string, unknown>;
  files: Record<string, string>;
  /** Evaluated conditions by name. */
  conditions: Record<string, boolean>;
  /** get_resource: the resource's reference id (usually its physical id), null before it exists. */
  getResource(name: string): string | null;
  /** get_attr without path: the attribute's value (the template applies the path). */
  getAttr(name: string, attribute: string): Promise<unknown>;
  /**
   * get_attr with a path (the elements after the attribute name), resolved by the engine: plugins
   * with resolveAttributePath select inside their members themselves. When present the template
   * calls this instead of getAttr + applying the path.
   */
  getAttrPath?(name: string, attribute: string, path: unknown[]): Promise<unknown>;
  /** get_attr with only a resource name (2015-10-15+): all attributes of the resource. */
  getAllAttrs(name: string): Promise<Record<string, unknown>>;
}

// ------------------------------------------------------------------ resource plugins

/** A property's schema as Heat shows it in GET /resource_types/{type}. */
export interface PropertySchema {
  /** 'any' (OS::Heat::Value's value): no type check or conversion. */
  type: 'string' | 'number' | 'integer' | 'boolean' | 'map' | 'list' | 'json' | 'any';
  description?: string;
  required?: boolean;
  default?: unknown;
  update_allowed?: boolean;
  immutable?: boolean;
  constraints?: PropertyConstraint[];
  /** For 'map': the schema of its keys; for 'list': {'*': schema of each item}. */
  schema?: Record<string, PropertySchema>;
  support_status?: SupportStatus;
  /** A hidden, deprecated property whose value stands for the named one when that one is not
   *  given (Heat's translation of e.g. network_id → network), applied before required checks. */
  replaced_by?: string;
}

export interface PropertyConstraint {
  length?: { min?: number; max?: number };
  range?: { min?: number; max?: number };
  modulo?: { step: number; offset: number };
  allowed_values?: unknown[];
  allowed_pattern?: string;
  /** e.g. 'nova.flavor', 'glance.image', 'neutron.network' (resources/constraints.ts). */
  custom_constraint?: string;
  description?: string;
}

export interface AttributeSchema {
  description: string;
  type?: 'string' | 'map' | 'list' | 'integer' | 'number' | 'boolean';
}

export interface SupportStatus {
  status: 'SUPPORTED' | 'DEPRECATED' | 'UNSUPPORTED' | 'HIDDEN';
  version?: string;
  message?: string;
  previous_status?: SupportStatus;
}

/** What the engine persists for one resource and hands to its plugin. */
export interface ResourceContext {
  /** Logical name in the template. */
  readonly name: string;
  readonly type: string;
  /** Row id of this resource (a uuid), stable across retries. */
  readonly uuid: string;
  readonly stack: StackContext;
  /** Properties after function resolution, defaults applied and schema validation. */
  readonly properties: Record<string, any>;
  /** Physical id of the backing object, null until the plugin records one. */
  readonly physicalId: string | null;
  /** Persists the physical id at once: call it as soon as the backing object exists. */
  setPhysicalId(id: string | null): Promise<void>;
  /** Small persistent key/value data the plugin keeps (Heat's resource data). */
  readonly data: Record<string, string>;
  setData(key: string, value: string | null): Promise<void>;
  /** '<stack name>-<resource name>-<12 random>', chosen once per resource row (stable across retries). */
  physicalName(): string;
  /** The template metadata of this resource (resolved); plugins that own metadata (software
   *  deployments, wait condition handles) may replace it. */
  readonly metadata: unknown;
  setMetadata(value: unknown): Promise<void>;
  /** Calls the other services' APIs as the stack's owner (in-process, no network). */
  readonly client: OpenStackClient;
  /** Nested stacks owned by this resource (ResourceGroup, OS::Heat::Stack, template resources). */
  readonly nested: NestedStacks;
  /** Signals received by this resource (wait condition handles, SoftwareDeployment), oldest first. */
  signals(): Promise<unknown[]>;
  /** Resolved definition of the previous version, on update only. */
  readonly previousProperties?: Record<string, any>;
  readonly log: (msg: string) => void;
  /** The process context (database, config, services) for plugins that keep Heat-side state
   *  (software deployments, wait condition signals). */
  readonly cloud: import('../core/service.ts').Context;
}

export interface StackContext {
  id: string;
  name: string;
  projectId: string;
  userId: string;
  region: string;
  /** Public base URL of this cloud, e.g. http://127.0.0.1:5000 (for URLs handed to guests). */
  publicUrl: string;
  /** Non-null for nested stacks. */
  parentId: string | null;
  /** The stack's timeout (timeout_mins), when set: software deployments time out with it. */
  timeoutMins?: number | null;
}

/** The result of a call through OpenStackClient: non-2xx answers throw ClientError. */
export interface ClientResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export class ClientError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export type ServiceType = 'compute' | 'network' | 'volume' | 'image' | 'identity' | 'orchestration';

export interface OpenStackClient {
  /** `path` is relative to the service's versioned root: ('compute', 'POST', '/servers', body). */
  request(service: ServiceType, method: string, path: string, body?: unknown,
    opts?: { headers?: Record<string, string>; microversion?: string }): Promise<ClientResponse>;
  /** Like request, but a 404 answers null. */
  find(service: ServiceType, path: string): Promise<any | null>;
}

/** Nested stack operations for a resource; each call starts the operation and returns at once. */
export interface NestedStacks {
  /** Creates (or, when it already exists for this resource, returns) the nested stack. */
  create(def: NestedStackDefinition): Promise<string>;
  update(stackId: string, def: NestedStackDefinition): Promise<void>;
  delete(stackId: string): Promise<void>;
  /** Current status of a nested stack, or null when it no longer exists. */
  status(stackId: string): Promise<{ action: StackAction; status: ActionStatus; reason: string } | null>;
  /** Outputs of a nested stack (resolved), for attributes of template resources and groups. */
  outputs(stackId: string): Promise<Record<string, unknown>>;
  /** Attribute of a resource inside a nested stack. */
  resourceAttr(stackId: string, resource: string, attribute: string): Promise<unknown>;
  /** Reference ids (get_resource) of the resources of a nested stack, by name. */
  resourceRefs(stackId: string): Promise<Record<string, string | null>>;
}

export interface NestedStackDefinition {
  template: Record<string, unknown>;
  parameters?: Record<string, unknown>;
  files?: Record<string, string>;
  environment?: Partial<Environment>;
  timeoutMins?: number;
}

export interface UpdateChange {
  /** Names of properties whose resolved values differ. */
  changed: string[];
  oldProperties: Record<string, any>;
  newProperties: Record<string, any>;
}

/**
 * One resource type. Calls are made by the engine's durable operation, which may run again
 * after a crash at any point: every handler must be idempotent, and handleDelete must succeed
 * when the backing object is already gone.
 */
export interface ResourcePlugin {
  type: string;
  description: string;
  supportStatus?: SupportStatus;
  properties: Record<string, PropertySchema>;
  /** OS::Heat::None: any properties are accepted as written (no schema check, none required). */
  acceptsAnyProperties?: boolean;
  attributes: Record<string, AttributeSchema>;
  /**
   * Groups (ResourceGroup, AutoScalingGroup): get_attr names not in `attributes` (a member
   * attribute, 'resource.<n>', 'resource.<n>.<attr>') and attributes whose path selects inside the
   * members ('attributes', <member attr>). When present the engine accepts any attribute name,
   * calls this with the get_attr path after the name and applies no path itself.
   */
  resolveAttributePath?(r: ResourceContext, name: string, path: unknown[]): Promise<unknown>;
  /** Extra checks beyond the schema (e.g. mutually exclusive properties): throw validationFailed. */
  validate?(properties: Record<string, any>, ctx: { client: OpenStackClient }): Promise<void>;
  /** Starts the create; record the physical id with setPhysicalId as soon as it exists. */
  handleCreate(r: ResourceContext): Promise<void>;
  /** Polled until true; throw to fail the resource (message becomes the status reason). */
  checkCreateComplete?(r: ResourceContext): Promise<boolean>;
  /**
   * After a crash between asking the backend to create and recording the physical id: find the
   * object the interrupted attempt created (by physicalName()) so it is adopted, not leaked.
   */
  findInterrupted?(r: ResourceContext): Promise<string | null>;
  /** In-place update of the properties in change.changed (all update_allowed). Absent: replace. */
  handleUpdate?(r: ResourceContext, change: UpdateChange): Promise<void>;
  checkUpdateComplete?(r: ResourceContext): Promise<boolean>;
  /** Whether a change needs replacement even though every changed property is update_allowed. */
  needsReplace?(change: UpdateChange): boolean;
  handleDelete(r: ResourceContext): Promise<void>;
  checkDeleteComplete?(r: ResourceContext): Promise<boolean>;
  /** An attribute's value (no path); unknown names are rejected by the engine before this. */
  resolveAttribute(r: ResourceContext, name: string): Promise<unknown>;
  /** The 'show' attribute: the backing object as its API shows it. */
  show?(r: ResourceContext): Promise<unknown>;
  /** get_resource; default: the physical id. */
  refId?(r: ResourceContext): string | null;
  /** POST .../resources/{name}/signal; absent means the resource does not take signals (400). */
  handleSignal?(r: ResourceContext, details: unknown): Promise<void>;
  handleCheck?(r: ResourceContext): Promise<void>;
  handleSuspend?(r: ResourceContext): Promise<void>;
  handleResume?(r: ResourceContext): Promise<void>;
  /** Engine-polled delay between check* calls, ms (default 200). */
  pollMs?: number;
}

/** Looks plugins up by type name; template resources (files / resource_registry) are resolved by the engine. */
export interface PluginRegistry {
  get(type: string): ResourcePlugin | undefined;
  list(): ResourcePlugin[];
}

// ------------------------------------------------------------------ the engine, as the API sees it

/** Who asks: the API passes the caller's identity; the engine keeps it as the stack's owner. */
export interface Caller {
  userId: string;
  projectId: string;
  roles: string[];
  isAdmin: boolean;
}

export interface StackRequest {
  stack_name: string;
  /** Parsed template (the API turns template_url / a YAML string into an object first). */
  template: Record<string, unknown>;
  parameters?: Record<string, unknown>;
  environment?: Partial<Environment>;
  /** Extra environment files, merged in order (environment_files + files). */
  environment_files?: string[];
  files?: Record<string, string>;
  timeout_mins?: number;
  disable_rollback?: boolean;
  tags?: string[];
  /** PATCH updates: parameters not given keep their previous values (Heat's existing=true). */
  clear_parameters?: string[];
}

export interface StackRecord {
  id: string;
  name: string;
  projectId: string;
  userId: string;
  parentId: string | null;
  /** The resource of the parent stack that owns this nested stack. */
  ownerResource: string | null;
  action: StackAction;
  status: ActionStatus;
  statusReason: string;
  description: string;
  template: Record<string, unknown>;
  environment: Environment;
  files: Record<string, string>;
  /** Parameter values as resolved at the last operation (hidden ones included; the API masks). */
  parameters: Record<string, unknown>;
  disableRollback: boolean;
  timeoutMins: number | null;
  tags: string[];
  createdAt: string;
  updatedAt: string | null;
  deletedAt: string | null;
}

export interface ResourceRecord {
  uuid: string;
  stackId: string;
  stackName: string;
  name: string;
  type: string;
  physicalId: string | null;
  action: StackAction;
  status: ActionStatus;
  statusReason: string;
  /** Names of the resources this one depends on. */
  requires: string[];
  /** Names of the resources that depend on this one. */
  requiredBy: string[];
  metadata: unknown;
  createdAt: string;
  updatedAt: string | null;
  /** Nested stack id for resources that own one. */
  nestedStackId: string | null;
  description: string;
}

export interface EventRecord {
  id: string;
  stackId: string;
  stackName: string;
  resourceName: string;
  physicalResourceId: string | null;
  resourceType: string;
  action: StackAction;
  status: ActionStatus;
  reason: string;
  time: string;
  resourceProperties: unknown;
}

export interface OutputRecord {
  output_key: string;
  output_value: unknown;
  description: string;
  /** Set instead of output_value when it could not be resolved. */
  output_error?: string;
}

export interface ListOptions {
  limit?: number;
  marker?: string;
  sortKeys?: string[];
  sortDir?: 'asc' | 'desc';
  filters?: Record<string, string[]>;
}

export type HookType = 'pre-create' | 'pre-update' | 'pre-delete';

/** What the engine offers the API (engine/index.ts implements it). Errors are heatError()s. */
export interface OrchestrationEngine {
  /** Validates, stores the stack and starts the create; answers once the stack is stored. */
  create(caller: Caller, req: StackRequest): Promise<StackRecord>;
  /** Adopt: like create, resources taken over from abandon data instead of created. */
  adopt(caller: Caller, req: StackRequest, adoptData: Record<string, unknown>): Promise<StackRecord>;
  /** POST /stacks/preview: the stack as it would be created (nested stacks shown as lists). */
  preview(caller: Caller, req: StackRequest): Promise<Record<string, unknown>>;
  update(caller: Caller, stackId: string, req: StackRequest, opts: { patch: boolean }): Promise<void>;
  /** PUT|PATCH .../preview: {added, deleted, replaced, unchanged, updated} lists of resource views. */
  previewUpdate(caller: Caller, stackId: string, req: StackRequest, opts: { patch: boolean; showNested?: boolean }): Promise<Record<string, unknown>>;
  delete(caller: Caller, stackId: string): Promise<void>;
  /** Deletes the stack record but keeps the resources; answers Heat's abandon data. */
  abandon(caller: Caller, stackId: string): Promise<Record<string, unknown>>;
  cancelUpdate(caller: Caller, stackId: string, opts: { rollback: boolean }): Promise<void>;
  /** Actions: check, suspend, resume. */
  action(caller: Caller, stackId: string, action: 'check' | 'suspend' | 'resume'): Promise<void>;

  /** Looks a stack up by id or name in the caller's project (admins: any project); null if absent. */
  find(caller: Caller, idOrName: string, opts?: { showDeleted?: boolean }): Promise<StackRecord | null>;
  list(caller: Caller, opts: ListOptions & { globalTenant?: boolean; showDeleted?: boolean; showNested?: boolean; showHidden?: boolean;
    tags?: string[]; tagsAny?: string[]; notTags?: string[]; notTagsAny?: string[] }): Promise<StackRecord[]>;
  count(caller: Caller, opts: ListOptions & { globalTenant?: boolean; showDeleted?: boolean; showNested?: boolean; showHidden?: boolean;
    tags?: string[]; tagsAny?: string[]; notTags?: string[]; notTagsAny?: string[] }): Promise<number>;
  outputs(stack: StackRecord): Promise<OutputRecord[]>;
  output(stack: StackRecord, key: string): Promise<OutputRecord>;

  listResources(stack: StackRecord, opts: { nestedDepth?: number; filters?: Record<string, string[]>; withDetail?: boolean }): Promise<ResourceRecord[]>;
  getResource(stack: StackRecord, name: string): Promise<ResourceRecord>;
  /** All attributes of a resource, resolved (for resource show). */
  resourceAttributes(stack: StackRecord, name: string): Promise<Record<string, unknown>>;
  markUnhealthy(caller: Caller, stack: StackRecord, name: string, unhealthy: boolean, reason: string): Promise<void>;
  signal(stack: StackRecord, name: string, details: unknown): Promise<void>;
  events(stack: StackRecord, opts: ListOptions & { resourceName?: string; nestedDepth?: number }): Promise<EventRecord[]>;
  event(stack: StackRecord, resourceName: string, eventId: string): Promise<EventRecord>;
  /** Clears a hook a resource is waiting on (PATCH .../resources/{name} would not: signal with unset_hook). */
  clearHook(stack: StackRecord, resourceName: string, hook: HookType): Promise<void>;

  /** POST /validate: Heat's answer ({Description, Parameters, ParameterGroups?, Environment}). */
  validate(caller: Caller, req: Omit<StackRequest, 'stack_name'>, opts: { showNested?: boolean; ignoreErrors?: string[] }): Promise<Record<string, unknown>>;
  /** The current template of a stack (as given). */
  template(stack: StackRecord): Record<string, unknown>;
  environment(stack: StackRecord): Environment;
}
