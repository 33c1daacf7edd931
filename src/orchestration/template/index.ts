// Heat's template language: parsing, parameters, intrinsic functions, conditions and property
// validation. Pure code: no database, no HTTP. The engine and the API use only these exports.
export { parseTemplate, parseEnvironment, mergeEnvironments, parseYaml, MAX_TEMPLATE_SIZE } from './parse.ts';
export { TEMPLATE_VERSIONS, templateFunctions } from './versions.ts';
export {
  resolveParameters, parametersView, validateParameterGroups, immutableParamsModified, HOT_PSEUDO, CFN_PSEUDO,
} from './parameters.ts';
export type { CustomCheck } from './parameters.ts';
export { resolve, referencedResources, evaluateConditions, conditionHolds, validateFunctions } from './functions.ts';
export { validateProperties, propertiesView, generateTemplate, replacedBy } from './properties.ts';
