import type { ComputePart } from './index.ts';

export const serverGroups: ComputePart = { migrations: [], async routes() {} };
