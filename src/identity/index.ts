import type { ServiceModule } from '../core/service.ts';

export const identity: ServiceModule = { name: 'identity', prefix: '/identity', migrations: [], async routes() {} };
