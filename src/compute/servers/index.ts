import type { ComputePart } from '../index.ts';

export const servers: ComputePart = { migrations: [], async routes() {} };
