import type { ComputePart } from './index.ts';

export const quotas: ComputePart = { migrations: [], async routes() {} };
