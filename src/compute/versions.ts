import type { ComputePart } from './index.ts';

export const versions: ComputePart = { migrations: [], async routes() {} };
