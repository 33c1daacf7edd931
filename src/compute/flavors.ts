import type { ComputePart } from './index.ts';

export const flavors: ComputePart = { migrations: [], async routes() {} };
