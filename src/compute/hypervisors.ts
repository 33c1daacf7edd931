import type { ComputePart } from './index.ts';

export const hypervisors: ComputePart = { migrations: [], async routes() {} };
