// oslo.policy rule language: `role:admin or (role:member and project_id:%(project_id)s)`,
// `rule:name`, `@` (always), `!` (never), `not`, and generic `cred_key:value` checks where the
// value is a literal or a `%(target_key)s` substitution. Each service declares its defaults
// (OpenStack's secure-RBAC ones); a policy file (YAML or JSON) overrides them by name.
import { readFileSync, existsSync } from 'node:fs';
import YAML from 'yaml';
import { forbidden } from './errors.ts';
import { policyCredentials, type AuthContext } from './auth.ts';

type Check = (creds: Record<string, any>, target: Record<string, any>, enforcer: Enforcer) => boolean;

export class PolicyParseError extends Error {}

/** As oslo.policy: split on white space, then peel leading "(" and trailing ")" off each word. */
function tokenize(rule: string): string[] {
  const out: string[] = [];
  for (let word of rule.split(/\s+/).filter(Boolean)) {
    while (word.startsWith('(')) { out.push('('); word = word.slice(1); }
    let close = 0;
    while (word.endsWith(')') && !/%\([^)]*\)$/.test(word)) { close++; word = word.slice(0, -1); }
    if (word) out.push(word);
    for (; close > 0; close--) out.push(')');
  }
  return out;
}

export function parseRule(rule: string): Check {
  const toks = tokenize(rule.trim());
  if (!toks.length) return () => true;
  let i = 0;
  const peek = () => toks[i];
  const orExpr = (): Check => {
    let left = andExpr();
    while (peek()?.toLowerCase() === 'or') { i++; const r = andExpr(); const l = left; left = (c, t, e) => l(c, t, e) || r(c, t, e); }
    return left;
  };
  const andExpr = (): Check => {
    let left = notExpr();
    while (peek()?.toLowerCase() === 'and') { i++; const r = notExpr(); const l = left; left = (c, t, e) => l(c, t, e) && r(c, t, e); }
    return left;
  };
  const notExpr = (): Check => {
    if (peek()?.toLowerCase() === 'not') { i++; const x = notExpr(); return (c, t, e) => !x(c, t, e); }
    return atom();
  };
  const atom = (): Check => {
    const tok = toks[i++];
    if (tok === undefined) throw new PolicyParseError(`unexpected end of rule: ${rule}`);
    if (tok === '(') {
      const x = orExpr();
      if (toks[i++] !== ')') throw new PolicyParseError(`missing ) in rule: ${rule}`);
      return x;
    }
    return check(tok);
  };
  const c = orExpr();
  if (i !== toks.length) throw new PolicyParseError(`unexpected ${toks[i]} in rule: ${rule}`);
  return c;
}

function lookup(obj: Record<string, any>, path: string): any {
  if (path in obj) return obj[path];
  let cur: any = obj;
  for (const part of path.split('.')) { if (cur == null) return undefined; cur = cur[part]; }
  return cur;
}

function check(tok: string): Check {
  if (tok === '@' || tok.toLowerCase() === 'true') return () => true;
  if (tok === '!' || tok.toLowerCase() === 'false') return () => false;
  const colon = tok.indexOf(':');
  if (colon < 0) throw new PolicyParseError(`bad check: ${tok}`);
  const kind = tok.slice(0, colon), match = tok.slice(colon + 1);
  if (kind === 'rule') return (c, t, e) => e.check(match, c, t);
  const value = (t: Record<string, any>): any => {
    const sub = /^%\((.+)\)s$/.exec(match);
    if (sub) return lookup(t, sub[1]);
    if (/^'.*'$/.test(match)) return match.slice(1, -1);
    return match;
  };
  if (kind === 'role') return (c, t) => {
    const want = String(value(t)).toLowerCase();
    return (c.roles ?? []).some((r: string) => r.toLowerCase() === want);
  };
  // A literal on the left (`None:%(target.role.domain_id)s`, `'member':%(role)s`) is compared
  // with the target value, as oslo.policy's GenericCheck does (None matches a null target value).
  if (/^(None|True|False|'.*'|-?\d+)$/.test(kind)) {
    const lit = /^'.*'$/.test(kind) ? kind.slice(1, -1) : kind;
    return (c, t) => {
      const sub = /^%\((.+)\)s$/.exec(match);
      if (!sub) return lit === match;
      const want = lookup(t, sub[1]);
      if (want === undefined) return false;
      return lit === (want === null ? 'None' : typeof want === 'boolean' ? (want ? 'True' : 'False') : String(want));
    };
  }
  return (c, t) => {
    const want = value(t);
    const have = lookup(c, kind);
    if (want === undefined || want === null || have === undefined || have === null) return false;
    if (typeof have === 'boolean') return String(have) === String(want).toLowerCase();
    if (Array.isArray(have)) return have.map(String).includes(String(want));
    return String(have) === String(want);
  };
}

export class Enforcer {
  private rules = new Map<string, Check>();
  private sources = new Map<string, string>();
  private overridden = new Set<string>();

  constructor(defaults: Record<string, string> = {}, overrides: Record<string, string> = {}) {
    this.register(defaults);
    this.override(overrides);
  }

  /** Adds defaults (a service's own rules); existing overrides win. */
  register(defaults: Record<string, string>) {
    for (const [k, v] of Object.entries(defaults)) if (!this.overridden.has(k)) this.set(k, v);
  }
  override(rules: Record<string, string>) {
    for (const [k, v] of Object.entries(rules)) { this.set(k, v); this.overridden.add(k); }
  }
  private set(name: string, rule: string) {
    this.sources.set(name, rule);
    this.rules.set(name, parseRule(rule));
  }

  rule(name: string): string | undefined { return this.sources.get(name); }

  check(name: string, creds: Record<string, any>, target: Record<string, any> = {}): boolean {
    const r = this.rules.get(name);
    if (!r) return false; // an unknown rule denies, as oslo.policy's default rule does for unregistered names
    return r(creds, target, this);
  }

  /** Throws 403 unless the caller passes `name` for `target`. */
  authorize(name: string, auth: AuthContext, target: Record<string, any> = {}, message?: string): void {
    if (!this.check(name, policyCredentials(auth), target)) {
      throw forbidden(message ?? `Policy doesn't allow ${name} to be performed.`);
    }
  }

  static loadOverrides(file?: string): Record<string, string> {
    if (!file || !existsSync(file)) return {};
    const doc = YAML.parse(readFileSync(file, 'utf8')) ?? {};
    if (typeof doc !== 'object') throw new PolicyParseError(`${file}: not a mapping`);
    return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, String(v ?? '')]));
  }
}

/** Rules shared by every service, as in OpenStack's secure-RBAC defaults. */
export const BASE_RULES: Record<string, string> = {
  admin_required: 'role:admin',
  context_is_admin: 'role:admin',
  admin_api: 'role:admin',
  project_member_api: 'role:member and project_id:%(project_id)s',
  project_reader_api: 'role:reader and project_id:%(project_id)s',
  project_manager_api: 'role:manager and project_id:%(project_id)s',
  project_reader_or_admin: 'rule:project_reader_api or rule:context_is_admin',
  project_member_or_admin: 'rule:project_member_api or rule:context_is_admin',
  system_admin_api: 'role:admin and system_scope:all',
  system_reader_api: 'role:reader and system_scope:all',
  owner: 'user_id:%(user_id)s',
  admin_or_owner: 'rule:admin_required or rule:owner',
};
