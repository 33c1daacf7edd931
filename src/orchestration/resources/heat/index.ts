// The OS::Heat::* resource types (Heat's own resources: test helpers, groups, nested stacks,
// wait conditions, software configuration).
import type { ResourcePlugin } from '../../types.ts';
import { TestResource } from './test_resource.ts';
import { RandomString } from './random_string.ts';
import { NoneResource, Value } from './value.ts';
import { RemoteStack } from './stack.ts';
import { ResourceGroup } from './resource_group.ts';
import { AutoScalingGroup, ScalingPolicy } from './autoscaling.ts';
import { WaitCondition, WaitConditionHandle } from './wait_condition.ts';
import { CloudConfig, MultipartMime, SoftwareConfigResource, StructuredConfig } from './software_config.ts';
import {
  SoftwareDeploymentResource, SoftwareDeployments, StructuredDeployment, StructuredDeployments,
} from './software_deployment.ts';

export const HEAT_PLUGINS: ResourcePlugin[] = [
  TestResource, RandomString, Value, NoneResource, RemoteStack, ResourceGroup, AutoScalingGroup, ScalingPolicy,
  WaitConditionHandle, WaitCondition, SoftwareConfigResource, StructuredConfig, CloudConfig, MultipartMime,
  SoftwareDeploymentResource, SoftwareDeployments, StructuredDeployment, StructuredDeployments,
];
