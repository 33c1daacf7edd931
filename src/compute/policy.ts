export const NOVA_POLICY: Record<string, string> = {};
