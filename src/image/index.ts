import type { ServiceModule } from '../core/service.ts';

export const image: ServiceModule = { name: 'image', prefix: '/image', migrations: [], async routes() {} };
