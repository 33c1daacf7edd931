import type { ComputePart } from './index.ts';

export const keypairs: ComputePart = { migrations: [], async routes() {} };
