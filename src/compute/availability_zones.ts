import type { ComputePart } from './index.ts';

export const availabilityZones: ComputePart = { migrations: [], async routes() {} };
