import { randomUUID, randomBytes } from 'node:crypto';

export const uuid = (): string => randomUUID();
/** Keystone-style ids: 32 hex characters, no dashes. */
export const hexId = (): string => randomBytes(16).toString('hex');
export const isUuid = (s: string): boolean => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(s);
/** Current time as ISO-8601 with microseconds-free seconds precision and a Z, as most OpenStack APIs show it. */
export const nowIso = (): string => new Date().toISOString();
