// Keystone's revocation events: a token is revoked when some event matches it, i.e. every
// attribute the event sets equals the token's (user, project, role, domain, audit id, audit
// chain) and the token was issued at or before the event's issued_before. Events are rows in
// identity_revocation_events, written in the transaction of the change that causes them, and an
// in-memory copy (indexed by the most selective attribute) answers every token validation. The
// copy is updated at once after local commits and re-read every few seconds, so several API
// processes on one PostgreSQL database converge.
import type { Database, Tx } from '../core/db/index.ts';
import { hexId } from '../core/ids.ts';

export interface RevocationEvent {
  id: string;
  domain_id?: string | null;
  project_id?: string | null;
  user_id?: string | null;
  role_id?: string | null;
  audit_id?: string | null;
  audit_chain_id?: string | null;
  /** Not in Keystone's model (it re-reads the credential at validation): tokens made from a deleted one. */
  application_credential_id?: string | null;
  /**
   * Not in Keystone's model either: the token's exact scope (a project id, a domain id for
   * domain-scoped tokens, 'system'), so removing a grant on one scope spares the user's others.
   */
  scope_id?: string | null;
  /** ms since the epoch: tokens issued at or before this instant match */
  issued_before: number;
  revoked_at: number;
}

/** What the revocation check looks at in a token. */
export interface TokenValues {
  userId: string;
  identityDomainId: string;
  projectId?: string;
  /** Project's domain for a project-scoped token, the domain for a domain-scoped one. */
  assignmentDomainId?: string;
  roleIds: string[];
  auditId: string;
  auditChainId: string;
  applicationCredentialId?: string;
  /** project id, domain id (domain-scoped) or 'system'; undefined when unscoped */
  scopeId?: string;
  issuedAt: number;
}

const KEYS = ['audit_id', 'audit_chain_id', 'application_credential_id', 'user_id', 'project_id', 'role_id', 'domain_id', 'scope_id'] as const;

function matches(e: RevocationEvent, t: TokenValues): boolean {
  if (t.issuedAt > e.issued_before) return false;
  if (e.user_id != null && e.user_id !== t.userId) return false;
  if (e.project_id != null && e.project_id !== t.projectId) return false;
  if (e.domain_id != null && e.domain_id !== t.identityDomainId && e.domain_id !== t.assignmentDomainId) return false;
  if (e.role_id != null && !t.roleIds.includes(e.role_id)) return false;
  if (e.audit_id != null && e.audit_id !== t.auditId) return false;
  if (e.audit_chain_id != null && e.audit_chain_id !== t.auditChainId) return false;
  if (e.application_credential_id != null && e.application_credential_id !== t.applicationCredentialId) return false;
  if (e.scope_id != null && e.scope_id !== t.scopeId) return false;
  return true;
}

export class RevocationList {
  private db: Database;
  /** How long events are kept: beyond it every token they could match has expired. */
  private retentionMs: number;
  private byId = new Map<string, RevocationEvent>();
  private index = new Map<string, RevocationEvent[]>();
  private lastRevokedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshes = 0;

  constructor(db: Database, retentionMs: number) {
    this.db = db;
    this.retentionMs = retentionMs;
  }

  private add(e: RevocationEvent) {
    if (this.byId.has(e.id)) return;
    this.byId.set(e.id, e);
    const k = KEYS.find((key) => e[key] != null);
    const key = k ? `${k}:${e[k]}` : '*';
    let list = this.index.get(key);
    if (!list) this.index.set(key, (list = []));
    list.push(e);
    if (e.revoked_at > this.lastRevokedAt) this.lastRevokedAt = e.revoked_at;
  }

  isRevoked(t: TokenValues): boolean {
    if (!this.byId.size) return false;
    const check = (key: string) => {
      const list = this.index.get(key);
      return !!list && list.some((e) => matches(e, t));
    };
    if (check('*') || check(`audit_id:${t.auditId}`) || check(`audit_chain_id:${t.auditChainId}`) || check(`user_id:${t.userId}`)) return true;
    if (t.applicationCredentialId && check(`application_credential_id:${t.applicationCredentialId}`)) return true;
    if (t.projectId && check(`project_id:${t.projectId}`)) return true;
    for (const r of t.roleIds) if (check(`role_id:${r}`)) return true;
    if (check(`domain_id:${t.identityDomainId}`)) return true;
    if (t.assignmentDomainId && t.assignmentDomainId !== t.identityDomainId && check(`domain_id:${t.assignmentDomainId}`)) return true;
    if (t.scopeId && check(`scope_id:${t.scopeId}`)) return true;
    return false;
  }

  /**
   * Records an event in the caller's transaction; the in-memory list learns it on commit.
   * issued_before defaults to now, so tokens issued later are unaffected.
   */
  async revoke(tx: Tx, fields: Omit<RevocationEvent, 'id' | 'issued_before' | 'revoked_at'> & { issued_before?: number }): Promise<void> {
    const now = Date.now();
    const e: RevocationEvent = {
      id: hexId(),
      domain_id: fields.domain_id ?? null, project_id: fields.project_id ?? null, user_id: fields.user_id ?? null,
      role_id: fields.role_id ?? null, audit_id: fields.audit_id ?? null, audit_chain_id: fields.audit_chain_id ?? null,
      application_credential_id: fields.application_credential_id ?? null, scope_id: fields.scope_id ?? null,
      issued_before: fields.issued_before ?? now, revoked_at: now,
    };
    await tx.run(`INSERT INTO identity_revocation_events (id, domain_id, project_id, user_id, role_id, audit_id, audit_chain_id, application_credential_id, scope_id, issued_before, revoked_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [e.id, e.domain_id!, e.project_id!, e.user_id!, e.role_id!, e.audit_id!, e.audit_chain_id!, e.application_credential_id!, e.scope_id!, e.issued_before, e.revoked_at]);
    tx.afterCommit(() => this.add(e));
  }

  /** Reads events written since the last read (by any process) and forgets expired ones. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private async doRefresh() {
    const cutoff = Date.now() - this.retentionMs;
    // Overlap the window a little: another process's clock or commit may lag behind ours.
    const since = Math.max(cutoff, this.lastRevokedAt - 60_000);
    const rows = await this.db.all<RevocationEvent>(
      'SELECT * FROM identity_revocation_events WHERE revoked_at >= ?', [since]);
    for (const r of rows) this.add({ ...r, issued_before: Number(r.issued_before), revoked_at: Number(r.revoked_at) });
    let pruned = false;
    for (const [id, e] of this.byId) if (e.revoked_at < cutoff) { this.byId.delete(id); pruned = true; }
    if (pruned) {
      this.index.clear();
      const all = [...this.byId.values()];
      this.byId.clear();
      for (const e of all) this.add(e);
    }
    if (pruned || this.refreshes++ % 100 === 0) {
      await this.db.run('DELETE FROM identity_revocation_events WHERE revoked_at < ?', [cutoff]);
    }
  }

  start(intervalMs = 2000) {
    this.timer = setInterval(() => { this.refresh().catch(() => { /* retried on the next tick */ }); }, intervalMs);
    this.timer.unref();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Events in Keystone's wire form (GET /v3/OS-REVOKE/events). */
  list(since?: number): RevocationEvent[] {
    return [...this.byId.values()].filter((e) => since === undefined || e.revoked_at > since);
  }
}
