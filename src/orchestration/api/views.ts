// How Heat's v1 API shows stacks, resources, events and outputs (heat/api/openstack/v1/views
// and the engine's api formatters): combined ACTION_STATUS strings, '' for a missing physical id,
// self/stack links by name and id, hidden parameters masked.
import type { EventRecord, OutputRecord, ResourceRecord, StackRecord } from '../types.ts';

/** '2016-04-08T10:00:00Z': Heat shows seconds precision. */
export function heatTime(s: string | null | undefined): string | null {
  if (!s) return null;
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** The API root of a project: <public url>/heat-api/v1/<project>. */
export const apiBase = (publicUrl: string, projectId: string) => `${publicUrl}/heat-api/v1/${projectId}`;

export const stackPath = (s: { name: string; id: string }) =>
  `stacks/${encodeURIComponent(s.name)}/${s.id}`;

export const stackUrl = (publicUrl: string, s: { name: string; id: string; projectId: string }) =>
  `${apiBase(publicUrl, s.projectId)}/${stackPath(s)}`;

const link = (href: string, rel: string) => ({ href, rel });

function isCfn(template: Record<string, unknown>): boolean {
  return 'AWSTemplateFormatVersion' in template || ('Resources' in template && !('heat_template_version' in template));
}

/** Names of the parameters a template declares hidden (HOT hidden: true, CFN NoEcho). */
export function hiddenParameters(template: Record<string, unknown>): Set<string> {
  const decl = (template.parameters ?? template.Parameters ?? {}) as Record<string, any>;
  const out = new Set<string>();
  if (!decl || typeof decl !== 'object') return out;
  for (const [name, p] of Object.entries(decl)) {
    if (!p || typeof p !== 'object') continue;
    const h = p.hidden ?? p.NoEcho;
    if (h === true || String(h).toLowerCase() === 'true') out.add(name);
  }
  return out;
}

/** Heat shows every parameter value as a string (lists comma-joined, json as JSON). */
export function parameterString(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return v.map((x) => String(x ?? '')).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function parametersView(stack: StackRecord, region: string): Record<string, string> {
  const hidden = hiddenParameters(stack.template);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(stack.parameters ?? {})) out[k] = hidden.has(k) ? '******' : parameterString(v);
  // The pseudo parameters are part of the stack's parameters as Heat shows them.
  if (isCfn(stack.template)) {
    out['AWS::StackName'] ??= stack.name;
    out['AWS::StackId'] ??= `arn:openstack:heat::${stack.projectId}:stacks/${stack.name}/${stack.id}`;
    out['AWS::Region'] ??= region;
  } else {
    out['OS::stack_name'] ??= stack.name;
    out['OS::stack_id'] ??= stack.id;
    out['OS::project_id'] ??= stack.projectId;
  }
  return out;
}

export function outputView(o: OutputRecord): Record<string, unknown> {
  const v: Record<string, unknown> = { output_key: o.output_key, description: o.description ?? 'No description given' };
  if (o.output_error !== undefined && o.output_error !== null) {
    v.output_value = null;
    v.output_error = o.output_error;
  } else {
    v.output_value = o.output_value ?? null;
  }
  return v;
}

export interface StackViewOptions {
  publicUrl: string;
  region: string;
  /** Show (and /stacks/detail): parameters, timeout, rollback, capabilities ... */
  detail?: boolean;
  /** Resolved outputs (stack show). */
  outputs?: OutputRecord[];
}

export function stackView(stack: StackRecord, o: StackViewOptions): Record<string, unknown> {
  const v: Record<string, unknown> = {
    id: stack.id,
    stack_name: stack.name,
    description: stack.description ?? '',
    creation_time: heatTime(stack.createdAt),
    updated_time: heatTime(stack.updatedAt),
    deletion_time: heatTime(stack.deletedAt),
    stack_status: `${stack.action}_${stack.status}`,
    stack_status_reason: stack.statusReason ?? '',
    stack_owner: null,
    parent: stack.parentId,
    stack_user_project_id: stack.projectId,
    tags: stack.tags?.length ? stack.tags : null,
    links: [link(stackUrl(o.publicUrl, stack), 'self')],
  };
  if (o.detail) {
    Object.assign(v, {
      parameters: parametersView(stack, o.region),
      template_description: stack.description ?? '',
      capabilities: [],
      notification_topics: [],
      timeout_mins: stack.timeoutMins ?? null,
      disable_rollback: stack.disableRollback,
    });
    if (o.outputs) v.outputs = o.outputs.map(outputView);
  }
  return v;
}

export interface ResourceViewOptions {
  publicUrl: string;
  projectId: string;
  detail?: boolean;
  attributes?: Record<string, unknown>;
  /** Name of the nested stack this resource owns (for its 'nested' link). */
  nestedName?: string | null;
  /** The resource of the parent stack owning the stack this resource is in (nested listings). */
  parentResource?: string | null;
}

export function resourceView(r: ResourceRecord, o: ResourceViewOptions): Record<string, unknown> {
  const stackHref = `${apiBase(o.publicUrl, o.projectId)}/${stackPath({ name: r.stackName, id: r.stackId })}`;
  const links = [link(`${stackHref}/resources/${encodeURIComponent(r.name)}`, 'self'), link(stackHref, 'stack')];
  if (r.nestedStackId) {
    const nested = o.nestedName
      ? `${apiBase(o.publicUrl, o.projectId)}/${stackPath({ name: o.nestedName, id: r.nestedStackId })}`
      : `${apiBase(o.publicUrl, o.projectId)}/stacks/${r.nestedStackId}`;
    links.push(link(nested, 'nested'));
  }
  const v: Record<string, unknown> = {
    resource_name: r.name,
    logical_resource_id: r.name,
    physical_resource_id: r.physicalId ?? '',
    resource_type: r.type,
    resource_status: `${r.action}_${r.status}`,
    resource_status_reason: r.statusReason ?? '',
    creation_time: heatTime(r.createdAt),
    updated_time: heatTime(r.updatedAt ?? r.createdAt),
    required_by: r.requiredBy ?? [],
    links,
  };
  if (o.parentResource) v.parent_resource = o.parentResource;
  if (o.detail) {
    v.description = r.description ?? '';
    v.attributes = o.attributes ?? {};
    v.stack_name = r.stackName;
  }
  return v;
}

export function eventView(e: EventRecord, o: { publicUrl: string; projectId: string; detail?: boolean }): Record<string, unknown> {
  const stackHref = `${apiBase(o.publicUrl, o.projectId)}/${stackPath({ name: e.stackName, id: e.stackId })}`;
  const resHref = `${stackHref}/resources/${encodeURIComponent(e.resourceName)}`;
  const v: Record<string, unknown> = {
    id: e.id,
    event_time: heatTime(e.time),
    logical_resource_id: e.resourceName,
    physical_resource_id: e.physicalResourceId ?? '',
    resource_name: e.resourceName,
    resource_status: `${e.action}_${e.status}`,
    resource_status_reason: e.reason ?? '',
    resource_type: e.resourceType,
    links: [link(`${resHref}/events/${e.id}`, 'self'), link(resHref, 'resource'), link(stackHref, 'stack')],
  };
  if (o.detail) v.resource_properties = e.resourceProperties ?? {};
  return v;
}
