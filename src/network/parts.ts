// The slices of the networking API, in registration order.
import type { NetworkPart } from './index.ts';

export const PARTS: NetworkPart[] = [];
