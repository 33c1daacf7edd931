// The template versions Heat knows, and what each allows: sections, resource and output keys,
// parameter keys, and the function table (name -> implementation). The tables follow Heat's
// template classes (heat.engine.hot.template / heat.engine.cfn.template) version by version.
import { heatError } from '../types.ts';

export type FunctionImpl =
  | 'get_param' | 'get_resource' | 'get_attr_then_select' | 'get_attr' | 'get_attr_all' | 'get_file'
  | 'list_join' | 'list_join_multiple' | 'str_replace' | 'str_replace_json' | 'str_replace_strict' | 'str_replace_vstrict'
  | 'repeat' | 'repeat_with_map' | 'repeat_nested' | 'digest' | 'str_split' | 'map_merge' | 'map_replace' | 'yaql'
  | 'if' | 'if_nullable' | 'filter' | 'make_url' | 'list_concat' | 'list_concat_unique' | 'contains'
  | 'equals' | 'not' | 'and' | 'or' | 'resource_facade'
  | 'cfn_ref' | 'cfn_param_ref' | 'cfn_get_att' | 'cfn_select' | 'cfn_join' | 'cfn_split' | 'cfn_replace' | 'cfn_base64'
  | 'cfn_get_azs' | 'cfn_member_list_to_map' | 'cfn_resource_facade' | 'cfn_find_in_map' | 'cfn_if'
  | 'cfn_equals' | 'cfn_not' | 'cfn_and' | 'cfn_or';

export interface VersionSpec {
  /** 'heat_template_version.2016-10-14' */
  id: string;
  key: string;
  date: string;
  type: 'hot' | 'cfn';
  aliases: string[];
  sections: string[];
  resourceKeys: string[];
  outputKeys: string[];
  /** Keys of a parameter definition (HOT) — CFN templates use CFN_PARAM_KEYS. */
  paramKeys: string[];
  /** Constraint kinds a HOT parameter may use. */
  paramConstraints: string[];
  deletionPolicies: string[];
  functions: Record<string, FunctionImpl>;
  /** Functions of earlier versions removed from this one (Heat answers InvalidTemplateVersion). */
  removed: string[];
  /** Functions allowed in the conditions section (and in condition fields / if's first argument). */
  conditionFunctions: Record<string, FunctionImpl>;
  hasConditions: boolean;
}

const HOT_RES_KEYS = ['type', 'properties', 'metadata', 'depends_on', 'deletion_policy', 'update_policy', 'description'];
const HOT_SECTIONS = ['heat_template_version', 'description', 'parameter_groups', 'parameters', 'resources', 'outputs'];
const HOT_PARAM_KEYS = ['type', 'description', 'default', 'schema', 'constraints', 'hidden', 'label', 'immutable'];
const HOT_CONSTRAINTS = ['description', 'length', 'range', 'allowed_values', 'allowed_pattern', 'custom_constraint'];
const POLICIES = ['Delete', 'Retain', 'Snapshot'];
const REMOVED_2014 = ['Fn::GetAZs', 'Fn::Join', 'Fn::Split', 'Fn::Replace', 'Fn::Base64', 'Fn::MemberListToMap', 'Fn::ResourceFacade', 'Ref'];

export const CFN_PARAM_KEYS = ['Type', 'Default', 'NoEcho', 'AllowedValues', 'AllowedPattern', 'MaxLength', 'MinLength',
  'MaxValue', 'MinValue', 'Description', 'ConstraintDescription', 'Label'];

function hot(date: string, aliases: string[], base: VersionSpec | null, change: {
  functions?: Record<string, FunctionImpl>; drop?: string[]; removed?: string[]; conditions?: Record<string, FunctionImpl>;
  extra?: Partial<VersionSpec>;
}): VersionSpec {
  const functions: Record<string, FunctionImpl> = { ...(base?.functions ?? {}), ...(change.functions ?? {}) };
  for (const d of [...(change.drop ?? []), ...(change.removed ?? [])]) delete functions[d];
  return {
    id: `heat_template_version.${date}`, key: 'heat_template_version', date, type: 'hot',
    aliases: aliases.map((a) => `heat_template_version.${a}`),
    sections: base?.sections ?? HOT_SECTIONS, resourceKeys: base?.resourceKeys ?? HOT_RES_KEYS,
    outputKeys: base?.outputKeys ?? ['description', 'value'], paramKeys: base?.paramKeys ?? HOT_PARAM_KEYS,
    paramConstraints: base?.paramConstraints ?? HOT_CONSTRAINTS, deletionPolicies: base?.deletionPolicies ?? POLICIES,
    functions,
    removed: [...new Set([...(base?.removed ?? []), ...(change.removed ?? [])])],
    conditionFunctions: { ...(base?.conditionFunctions ?? {}), ...(change.conditions ?? {}) },
    hasConditions: base?.hasConditions ?? false,
    ...change.extra,
  };
}

const v20130523 = hot('2013-05-23', [], null, {
  functions: {
    'Fn::GetAZs': 'cfn_get_azs', get_param: 'get_param', get_resource: 'get_resource', Ref: 'cfn_ref',
    get_attr: 'get_attr_then_select', 'Fn::Select': 'cfn_select', 'Fn::Join': 'cfn_join', list_join: 'list_join',
    'Fn::Split': 'cfn_split', str_replace: 'str_replace', 'Fn::Replace': 'cfn_replace', 'Fn::Base64': 'cfn_base64',
    'Fn::MemberListToMap': 'cfn_member_list_to_map', resource_facade: 'resource_facade',
    'Fn::ResourceFacade': 'cfn_resource_facade', get_file: 'get_file',
  },
});
const v20141016 = hot('2014-10-16', [], v20130523, { functions: { get_attr: 'get_attr' }, removed: REMOVED_2014 });
const v20150430 = hot('2015-04-30', [], v20141016, { functions: { repeat: 'repeat', digest: 'digest' } });
const v20151015 = hot('2015-10-15', [], v20150430, {
  functions: { get_attr: 'get_attr_all', list_join: 'list_join_multiple', str_replace: 'str_replace_json', str_split: 'str_split' },
  removed: ['Fn::Select'],
});
const v20160408 = hot('2016-04-08', [], v20151015, { functions: { map_merge: 'map_merge' } });
const v20161014 = hot('2016-10-14', ['newton'], v20160408, {
  functions: { repeat: 'repeat_with_map', yaql: 'yaql', map_replace: 'map_replace', if: 'if' },
  conditions: { get_param: 'get_param', equals: 'equals', not: 'not', and: 'and', or: 'or' },
  extra: {
    sections: [...HOT_SECTIONS, 'conditions'], resourceKeys: [...HOT_RES_KEYS, 'external_id', 'condition'],
    outputKeys: ['description', 'value', 'condition'], deletionPolicies: [...POLICIES, 'delete', 'retain', 'snapshot'],
    hasConditions: true,
  },
});
const v20170224 = hot('2017-02-24', ['ocata'], v20161014, {
  functions: { filter: 'filter', str_replace_strict: 'str_replace_strict' },
  extra: { paramConstraints: [...HOT_CONSTRAINTS, 'modulo'] },
});
const v20170901 = hot('2017-09-01', ['pike'], v20170224, {
  functions: {
    repeat: 'repeat_nested', make_url: 'make_url', list_concat: 'list_concat', str_replace_vstrict: 'str_replace_vstrict',
    list_concat_unique: 'list_concat_unique', contains: 'contains',
  },
  conditions: { yaql: 'yaql', contains: 'contains' },
});
const v20180302 = hot('2018-03-02', ['queens'], v20170901, { extra: { paramKeys: [...HOT_PARAM_KEYS, 'tags'] } });
const v20180831 = hot('2018-08-31', ['rocky'], v20180302, {});
const v20210416 = hot('2021-04-16', ['wallaby'], v20180831, { functions: { if: 'if_nullable' } });

const CFN_RES_KEYS = ['Type', 'Properties', 'Metadata', 'DependsOn', 'DeletionPolicy', 'UpdatePolicy', 'Description'];
const CFN_SECTIONS = ['AWSTemplateFormatVersion', 'HeatTemplateFormatVersion', 'Description', 'Mappings', 'Parameters', 'Resources', 'Outputs'];
const CFN_BASE_FUNCTIONS: Record<string, FunctionImpl> = {
  'Fn::FindInMap': 'cfn_find_in_map', 'Fn::GetAZs': 'cfn_get_azs', Ref: 'cfn_ref', 'Fn::GetAtt': 'cfn_get_att',
  'Fn::Select': 'cfn_select', 'Fn::Join': 'cfn_join', 'Fn::Split': 'cfn_split', 'Fn::Replace': 'cfn_replace',
  'Fn::Base64': 'cfn_base64', 'Fn::MemberListToMap': 'cfn_member_list_to_map', 'Fn::ResourceFacade': 'cfn_resource_facade',
};

const cfn20100909: VersionSpec = {
  id: 'AWSTemplateFormatVersion.2010-09-09', key: 'AWSTemplateFormatVersion', date: '2010-09-09', type: 'cfn', aliases: [],
  sections: [...CFN_SECTIONS, 'Conditions'], resourceKeys: [...CFN_RES_KEYS, 'Condition'],
  outputKeys: ['Description', 'Value', 'Condition'], paramKeys: CFN_PARAM_KEYS, paramConstraints: [], deletionPolicies: POLICIES,
  functions: { ...CFN_BASE_FUNCTIONS, 'Fn::If': 'cfn_if' }, removed: [],
  conditionFunctions: {
    'Fn::Equals': 'cfn_equals', Ref: 'cfn_param_ref', 'Fn::FindInMap': 'cfn_find_in_map', 'Fn::Not': 'cfn_not',
    'Fn::And': 'cfn_and', 'Fn::Or': 'cfn_or',
  },
  hasConditions: true,
};
const heat20121212: VersionSpec = {
  id: 'HeatTemplateFormatVersion.2012-12-12', key: 'HeatTemplateFormatVersion', date: '2012-12-12', type: 'cfn', aliases: [],
  sections: CFN_SECTIONS, resourceKeys: CFN_RES_KEYS, outputKeys: ['Description', 'Value'], paramKeys: CFN_PARAM_KEYS,
  paramConstraints: [], deletionPolicies: POLICIES, functions: { ...CFN_BASE_FUNCTIONS }, removed: [], conditionFunctions: {},
  hasConditions: false,
};

export const VERSION_SPECS: VersionSpec[] = [cfn20100909, heat20121212, v20130523, v20141016, v20150430, v20151015,
  v20160408, v20161014, v20170224, v20170901, v20180302, v20180831, v20210416];

/** Every 'key.value' Heat registers (dates and aliases) -> its spec. */
const BY_NAME = new Map<string, VersionSpec>();
for (const s of VERSION_SPECS) {
  BY_NAME.set(s.id, s);
  for (const a of s.aliases) BY_NAME.set(a, s);
}

export const VERSION_KEYS = [...new Set(VERSION_SPECS.map((s) => s.key))];

/** Looks a version up by id ('heat_template_version.pike') or by key and value. */
export function versionSpec(idOrKey: string, value?: string): VersionSpec | undefined {
  return BY_NAME.get(value === undefined ? idOrKey : `${idOrKey}.${value}`);
}

/** All values accepted for a version key, sorted like Heat's message (dates first, then aliases). */
export function versionValues(key: string): string[] {
  return [...BY_NAME.keys()].filter((n) => n.startsWith(key + '.')).map((n) => n.slice(key.length + 1)).sort();
}

/** Every function name of any version, to tell a function used under the wrong version from a plain map. */
export const ALL_FUNCTION_NAMES = new Set(VERSION_SPECS.flatMap((s) => [...Object.keys(s.functions), ...Object.keys(s.conditionFunctions)]));

export const TEMPLATE_VERSIONS: { version: string; type: 'hot' | 'cfn'; aliases: string[] }[] =
  [...VERSION_SPECS].sort((a, b) => (a.id < b.id ? -1 : 1)).map((s) => ({ version: s.id, type: s.type, aliases: [...s.aliases] }));

// One-line descriptions as GET /template_versions/{v}/functions shows them. Tempest compares
// get_file's exactly.
const DESCRIPTIONS: Record<FunctionImpl, string> = {
  get_param: 'A function for resolving parameter references.',
  get_resource: 'A function for resolving resource references.',
  get_attr_then_select: 'A function for resolving resource attributes.',
  get_attr: 'A function for resolving resource attributes.',
  get_attr_all: 'A function for resolving resource attributes.',
  get_file: 'A function for including a file inline.',
  list_join: 'A function for joining strings.',
  list_join_multiple: 'A function for joining one or more lists of strings.',
  str_replace: 'A function for performing string substitutions.',
  str_replace_json: 'A function for performing string substitutions.',
  str_replace_strict: 'A function for performing string substitutions.',
  str_replace_vstrict: 'A function for performing string substitutions.',
  repeat: 'A function for iterating over a list of items.',
  repeat_with_map: 'A function for iterating over a list of items or a dict of keys.',
  repeat_nested: 'A function for iterating over a list of items or a dict of keys.',
  digest: 'A function for performing digest operations.',
  str_split: 'A function for splitting delimited strings into a list.',
  map_merge: 'A function for merging maps.',
  map_replace: 'A function for performing substitutions on maps.',
  yaql: 'A function for executing a yaql expression.',
  if: 'A function to return corresponding value based on condition evaluation.',
  if_nullable: 'A function to return corresponding value based on condition evaluation.',
  filter: 'A function for filtering out values from lists.',
  make_url: 'A function for building a URL from its components.',
  list_concat: 'A function for extending lists.',
  list_concat_unique: 'A function for extending lists with unique items.',
  contains: 'A function for checking whether specific value is in sequence.',
  equals: 'A function for comparing whether two values are equal.',
  not: 'A function that acts as a NOT operator on a condition.',
  and: 'A function that acts as an AND operator on conditions.',
  or: 'A function that acts as an OR operator on conditions.',
  resource_facade: 'A function for retrieving data in a parent provider template.',
  cfn_ref: 'A function for resolving parameters or resource references.',
  cfn_param_ref: 'A function for resolving parameter references.',
  cfn_get_att: 'A function for resolving resource attributes.',
  cfn_select: 'A function for selecting an item from a list or map.',
  cfn_join: 'A function for joining strings.',
  cfn_split: 'A function for splitting strings.',
  cfn_replace: 'A function for performing string substitutions.',
  cfn_base64: 'A placeholder function for converting to base64.',
  cfn_get_azs: 'A function for retrieving the availability zones.',
  cfn_member_list_to_map: 'A function to convert lists with enumerated keys and values to mapping.',
  cfn_resource_facade: 'A function for retrieving data in a parent provider template.',
  cfn_find_in_map: 'A function for resolving keys in the template mappings.',
  cfn_if: 'A function to return corresponding value based on condition evaluation.',
  cfn_equals: 'A function for comparing whether two values are equal.',
  cfn_not: 'A function that acts as a NOT operator on a condition.',
  cfn_and: 'A function that acts as an AND operator on conditions.',
  cfn_or: 'A function that acts as an OR operator on conditions.',
};

export function templateFunctions(versionId: string, withConditions: boolean): { functions: string; description: string }[] {
  const spec = BY_NAME.get(versionId);
  if (!spec) throw heatError(404, 'NotFound', `Template with version ${versionId} not found`);
  const table: Record<string, FunctionImpl> = { ...spec.functions, ...(withConditions ? spec.conditionFunctions : {}) };
  return Object.entries(table).map(([name, impl]) => ({ functions: name, description: DESCRIPTIONS[impl] }));
}
