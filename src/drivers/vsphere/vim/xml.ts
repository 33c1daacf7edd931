// vim25 SOAP bodies to and from plain objects. fast-xml-parser does the XML; this file adds what
// SOAP encoding needs on top: xsi:type resolved through the namespace declarations in scope
// (vcsim binds the XSI namespace to the prefix "XMLSchema-instance", vCenter to "xsi"), managed
// object references as { type, value }, ArrayOfX wrappers as arrays, primitives typed by their
// xsi:type or, for the untyped fields a driver reads, by the field's name.
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import type { MoRef } from './types.ts';

export const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const SOAPENV = 'http://schemas.xmlsoap.org/soap/envelope/';

/** A decoded data object: its fields plus `_type` when the wire said which type it is. */
export type Decoded = { _type?: string; [field: string]: unknown };

/** A value to send with an explicit xsi:type, for fields of type anyType (OptionValue.value). */
export interface Typed { _type: string; _value: string | number | boolean }
export const xsdString = (v: string): Typed => ({ _type: 'xsd:string', _value: v });

/** Field names that are arrays in the vim25 types this driver reads (repeated elements otherwise look like one). */
const ARRAY_FIELDS = new Set([
  'objects', 'propSet', 'missingSet', 'filterSet', 'objectSet', 'changeSet', 'device', 'extraConfig', 'file',
  'faultMessage', 'rootSnapshotList', 'childSnapshotList', 'net', 'ipAddress', 'hostMember', 'sampleInfo',
  'uplinkPortName', 'disk', 'chain', 'fileKey',
]);
/** Arrays whose field name is also used for a single value in other types, keyed by the parent's type. */
const ARRAY_FIELDS_BY_TYPE: Record<string, Set<string>> = {
  PerfEntityMetric: new Set(['value', 'sampleInfo']),
  PerfMetricIntSeries: new Set(['value']),
  VmwareDistributedVirtualSwitchTrunkVlanSpec: new Set(['vlanId']),
  ResourcePool: new Set(['resourcePool', 'vm']),
  HostDatastoreBrowserSearchResults: new Set(['file']),
};

/** Untyped numeric and boolean fields (those inside data objects carry no xsi:type on the wire). */
const NUMBER_FIELDS = new Set([
  'key', 'device', 'controllerKey', 'unitNumber', 'busNumber', 'capacityInKB', 'capacityInBytes', 'numCPU', 'numCoresPerSocket',
  'memoryMB', 'numCpuCores', 'numCpuPkgs', 'numCpuThreads', 'numNics', 'numHBAs', 'cpuMhz', 'memorySize', 'capacity',
  'freeSpace', 'uncommitted', 'totalCpu', 'totalMemory', 'effectiveCpu', 'effectiveMemory', 'numHosts',
  'numEffectiveHosts', 'numCpuThreads', 'limit', 'reservation', 'shares', 'overallCpuUsage', 'overallMemoryUsage',
  'fileSize', 'vlanId', 'start', 'end', 'progress', 'maxObjects', 'refreshRate', 'intervalId', 'counterId', 'level',
  'perDeviceLevel', 'id', 'interval', 'numPorts', 'maxMtu', 'mtu', 'committed', 'unshared', 'size', 'eventChainId',
  'chainId', 'instanceKey', 'maxWaitSeconds', 'maxSample', 'scsiCtlrUnitNumber', 'capacityInKb',
  'numVirtualDisks', 'numEthernetCards', 'memorySizeMB', 'memoryReservation', 'cpuReservation', 'configVersion',
]);
const BOOLEAN_FIELDS = new Set([
  'connected', 'startConnected', 'allowGuestControl', 'accessible', 'template', 'thinProvisioned', 'eagerlyScrub',
  'inMaintenanceMode', 'multipleHostAccess', 'split', 'writeThrough', 'expandable', 'sharedBus', 'hotAddRemove',
  'cancelable', 'cancelled', 'inherited', 'dynamicallyAllocated', 'uplinkPort', 'mounted', 'accessMode', 'all',
  'skip', 'partialUpdates', 'includeDeprecated', 'rollup', 'vmSearch', 'instanceUuid', 'hotPlugCapable',
  'memoryHotAddEnabled', 'cpuHotAddEnabled', 'changeTrackingEnabled', 'autoPreallocate', 'useAutoDetect',
]);
// 'accessMode' is a string enum in HostMountInfo; keep it a string.
BOOLEAN_FIELDS.delete('accessMode');
// 'configVersion' is a string in DVS/portgroup specs (an opaque counter).
NUMBER_FIELDS.delete('configVersion');

const NUMERIC_XSD = new Set(['int', 'long', 'short', 'byte', 'float', 'double']);

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  textNodeName: '#text',
  processEntities: true,
  htmlEntities: false,
  // Every element as an array: the converter decides, from the schema rules above, what is one.
  isArray: (_name, _jpath, _isLeaf, isAttribute) => !isAttribute,
});

const local = (qname: string) => qname.slice(qname.indexOf(':') + 1);

/** The namespace declarations of a node, added to those in scope. */
function scopeOf(node: Node, parent: Map<string, string>): Map<string, string> {
  let scope = parent;
  for (const k of Object.keys(node)) {
    if (k === '@_xmlns' || k.startsWith('@_xmlns:')) {
      if (scope === parent) scope = new Map(parent);
      scope.set(k === '@_xmlns' ? '' : k.slice(8), String(node[k]));
    }
  }
  return scope;
}

/** The node's xsi:type (local name), whatever prefix the XSI namespace is bound to. */
function xsiType(node: Node, scope: Map<string, string>): string | undefined {
  for (const k of Object.keys(node)) {
    if (!k.startsWith('@_') || !k.endsWith(':type')) continue;
    const prefix = k.slice(2, -5);
    if (scope.get(prefix) === XSI) return local(String(node[k]));
  }
  return undefined;
}

function primitive(text: string, type: string | undefined, field: string): unknown {
  if (type) {
    if (NUMERIC_XSD.has(type)) return Number(text);
    if (type === 'boolean') return text === 'true' || text === '1';
    if (type === 'string' || type === 'dateTime' || type === 'base64Binary' || type === 'anyURI') return text;
  }
  if (NUMBER_FIELDS.has(field) && /^-?\d+(\.\d+)?$/.test(text.trim())) return Number(text);
  if (BOOLEAN_FIELDS.has(field) && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

function isArrayField(parentType: string | undefined, field: string): boolean {
  if (parentType && ARRAY_FIELDS_BY_TYPE[parentType]?.has(field)) return true;
  if (field === 'value' || field === 'vlanId' || field === 'resourcePool' || field === 'vm') return false;
  return ARRAY_FIELDS.has(field);
}

/** One element (as fast-xml-parser gives it) to its value. */
function convert(raw: unknown, field: string, parentScope: Map<string, string>): unknown {
  if (typeof raw === 'string') return primitive(raw, undefined, field);
  const node = raw as Node;
  const scope = scopeOf(node, parentScope);
  const type = xsiType(node, scope);
  const children = Object.keys(node).filter((k) => !k.startsWith('@_') && k !== '#text');
  const text = node['#text'] === undefined ? '' : String(node['#text']);
  if (type?.startsWith('ArrayOf')) {
    const out: unknown[] = [];
    for (const k of children) for (const c of node[k] as unknown[]) out.push(convert(c, local(k), scope));
    return out;
  }
  if (children.length === 0) {
    // The only attribute named "type" in vim25 is the one of ManagedObjectReference.
    if (node['@_type'] !== undefined) return { type: String(node['@_type']), value: text } satisfies MoRef;
    if (type && !isPrimitiveType(type) && text === '') return { _type: type };
    return primitive(text, type, field);
  }
  const out: Decoded = type ? { _type: type } : {};
  for (const k of children) {
    const name = local(k);
    const values = (node[k] as unknown[]).map((c) => convert(c, name, scope));
    out[name] = values.length > 1 || isArrayField(type, name) ? values : values[0];
  }
  return out;
}

function isPrimitiveType(t: string) {
  return NUMERIC_XSD.has(t) || ['string', 'boolean', 'dateTime', 'base64Binary', 'anyURI', 'anyType'].includes(t);
}

export interface SoapFaultInfo { name: string; message: string; detail: Decoded }

/** Parses a SOAP response: the method's returnval, or the fault. */
export function decodeResponse(xml: string): { returnval: unknown } | { fault: SoapFaultInfo } {
  const doc = parser.parse(xml) as Node;
  const root = firstElement(doc, new Map(), 'Envelope');
  if (!root) throw new Error('not a SOAP envelope');
  const body = firstElement(root.node, root.scope, 'Body');
  if (!body) throw new Error('SOAP envelope without Body');
  const fault = firstElement(body.node, body.scope, 'Fault');
  if (fault) {
    const faultstring = firstElement(fault.node, fault.scope, 'faultstring');
    const message = faultstring ? textOf(faultstring.node) : 'SOAP fault';
    const detail = firstElement(fault.node, fault.scope, 'detail');
    let name = 'SystemError';
    let info: Decoded = {};
    if (detail) {
      const inner = firstChild(detail.node, detail.scope);
      if (inner) {
        const type = xsiType(inner.node, inner.scope);
        name = type ?? inner.name.replace(/Fault$/, '');
        info = (convert(inner.node, inner.name, detail.scope) as Decoded) ?? {};
        if (typeof info !== 'object') info = {};
      }
    }
    return { fault: { name, message, detail: info } };
  }
  const response = firstChild(body.node, body.scope);
  if (!response) return { returnval: undefined };
  const rv = response.node['returnval'] as unknown[] | undefined;
  if (!rv) return { returnval: undefined };
  const values = rv.map((v) => convert(v, 'returnval', response.scope));
  return { returnval: values.length === 1 ? values[0] : values };
}

/** For methods whose returnval is an array: one element comes back as a one-element array. */
export function asArray<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null || (v as unknown) === '' ? [] : Array.isArray(v) ? v : [v];
}

function textOf(node: Node): string {
  return typeof node === 'string' ? node : node['#text'] === undefined ? '' : String(node['#text']);
}

function firstElement(node: Node, scope: Map<string, string>, name: string) {
  for (const k of Object.keys(node)) {
    if (k.startsWith('@_') || k === '#text' || k === '?xml') continue;
    if (local(k) !== name) continue;
    const child = (node[k] as Node[])[0];
    const n = typeof child === 'string' ? { '#text': child } : child;
    return { node: n, scope: scopeOf(n, scope), name: local(k) };
  }
  return undefined;
}

function firstChild(node: Node, scope: Map<string, string>) {
  for (const k of Object.keys(node)) {
    if (k.startsWith('@_') || k === '#text') continue;
    const child = (node[k] as Node[])[0];
    const n = typeof child === 'string' ? { '#text': child } : child;
    return { node: n, scope: scopeOf(n, scope), name: local(k) };
  }
  return undefined;
}

// ---- encoding -------------------------------------------------------------------------------

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  suppressEmptyNode: false,
  processEntities: true,
  format: false,
});

function isMoRef(v: unknown): v is MoRef {
  return typeof v === 'object' && v !== null && Object.keys(v).length === 2 && 'type' in v && 'value' in v;
}

/**
 * One value to fast-xml-parser's builder form. Objects keep their key order: vCenter checks the
 * XSD sequence, so callers write data objects' fields in the order of the vim25 schema.
 */
function toBuilder(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return v;
  if (isMoRef(v)) return { '@_type': v.type, '#text': v.value };
  const o = v as Record<string, unknown>;
  if ('_value' in o && typeof o._type === 'string') return { '@_xsi:type': o._type, '#text': toBuilder(o._value) };
  const out: Record<string, unknown> = {};
  if (typeof o._type === 'string') out['@_xsi:type'] = o._type;
  for (const [k, val] of Object.entries(o)) {
    if (k === '_type' || val === undefined || val === null) continue;
    out[k] = Array.isArray(val) ? val.map(toBuilder) : toBuilder(val);
  }
  return out;
}

/** A whole request envelope: <method xmlns="urn:vim25"><_this/>params…</method>. */
export function encodeRequest(method: string, self: MoRef, params: Record<string, unknown> = {}): string {
  const inner: Record<string, unknown> = { '@_xmlns': 'urn:vim25', _this: toBuilder(self) };
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    inner[k] = Array.isArray(v) ? v.map(toBuilder) : toBuilder(v);
  }
  const envelope = {
    'soapenv:Envelope': {
      '@_xmlns:soapenv': SOAPENV, '@_xmlns:xsd': 'http://www.w3.org/2001/XMLSchema', '@_xmlns:xsi': XSI,
      'soapenv:Body': { [method]: inner },
    },
  };
  return '<?xml version="1.0" encoding="UTF-8"?>' + builder.build(envelope);
}
