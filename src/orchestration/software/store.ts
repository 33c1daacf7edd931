// Heat's software configs and deployments: the rows behind /software_configs and
// /software_deployments, and what the OS::Heat::Software* plugins write. After every deployment
// change the server's list of deployments is recomputed and published into the metadata of its
// OS::Nova::Server resource ('deployments'), where os-collect-config polls it.
import type { Migration } from '../../core/db/migrate.ts';
import type { Queryable } from '../../core/db/index.ts';
import { fromJson, toJson } from '../../core/db/index.ts';
import { uuid, nowIso } from '../../core/ids.ts';
import { heatError, validationFailed } from '../types.ts';

export const softwareMigrations: Migration[] = [
  {
    id: 'orchestration-sw-001-software',
    sql: `
CREATE TABLE IF NOT EXISTS heat_software_configs (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  name TEXT,
  config_group TEXT NOT NULL,
  config TEXT,
  inputs TEXT NOT NULL,
  outputs TEXT NOT NULL,
  options TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS heat_software_configs_project ON heat_software_configs (project_id);
CREATE TABLE IF NOT EXISTS heat_software_deployments (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  server_id TEXT NOT NULL,
  config_id TEXT,
  input_values TEXT NOT NULL,
  output_values TEXT NOT NULL,
  action TEXT NOT NULL,
  status TEXT NOT NULL,
  status_reason TEXT NOT NULL,
  stack_user_project_id TEXT,
  deadline TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT
);
CREATE INDEX IF NOT EXISTS heat_software_deployments_server ON heat_software_deployments (server_id);
CREATE INDEX IF NOT EXISTS heat_software_deployments_project ON heat_software_deployments (project_id)`,
  },
  {
    // Scaling groups: a ScalingPolicy resizes a group it does not own, so the group's state lives
    // here (keyed by the group's nested stack id = its physical id) instead of in resource data.
    id: 'orchestration-sw-002-scaling-groups',
    sql: `
CREATE TABLE IF NOT EXISTS heat_scaling_groups (
  id TEXT PRIMARY KEY,
  stack_id TEXT NOT NULL,
  resource_name TEXT NOT NULL,
  min_size INTEGER NOT NULL,
  max_size INTEGER NOT NULL,
  cooldown INTEGER,
  resource_def TEXT NOT NULL,
  members TEXT NOT NULL,
  last_scaled TEXT,
  updated_at TEXT NOT NULL
)`,
  },
  {
    // Signals received by wait condition handles, folded by signal id (same id: replaced).
    id: 'orchestration-sw-003-wait-handles',
    sql: `
CREATE TABLE IF NOT EXISTS heat_wait_condition_handles (
  id TEXT PRIMARY KEY,
  stack_id TEXT NOT NULL,
  signals TEXT NOT NULL,
  updated_at TEXT NOT NULL
)`,
  },
];

// ------------------------------------------------------------------ configs

export interface ConfigInput {
  name: string; type: string; description?: string; default?: unknown; replace_on_change?: boolean; value?: unknown;
  [k: string]: unknown;
}
export interface ConfigOutput { name: string; type: string; description?: string; error_output?: boolean; [k: string]: unknown }

export interface SoftwareConfig {
  id: string;
  name: string | null;
  group: string;
  config: unknown;
  inputs: ConfigInput[];
  outputs: ConfigOutput[];
  options: Record<string, unknown> | null;
  creation_time: string;
  project: string;
}

const IO_TYPES = ['String', 'Number', 'CommaDelimitedList', 'Json', 'Boolean'];

/** Inputs as Heat stores them: a name, a type (String by default) and replace_on_change false. */
export function normaliseInputs(v: unknown): ConfigInput[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw validationFailed('The "inputs" of a software config must be a list', 'BadRequest');
  return v.map((i) => {
    if (!i || typeof i !== 'object' || typeof (i as any).name !== 'string') throw validationFailed('Each software config input needs a "name"', 'BadRequest');
    const o: ConfigInput = { ...(i as any), type: (i as any).type ?? 'String' };
    if (!IO_TYPES.includes(o.type)) throw validationFailed(`"${o.type}" is not an allowed value [${IO_TYPES.join(', ')}]`, 'BadRequest');
    if (o.replace_on_change === undefined) o.replace_on_change = false;
    if (o.description === undefined || o.description === null) delete o.description;
    if (o.default === undefined || o.default === null) delete o.default;
    return o;
  });
}

export function normaliseOutputs(v: unknown): ConfigOutput[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw validationFailed('The "outputs" of a software config must be a list', 'BadRequest');
  return v.map((i) => {
    if (!i || typeof i !== 'object' || typeof (i as any).name !== 'string') throw validationFailed('Each software config output needs a "name"', 'BadRequest');
    const o: ConfigOutput = { ...(i as any), type: (i as any).type ?? 'String' };
    if (!IO_TYPES.includes(o.type)) throw validationFailed(`"${o.type}" is not an allowed value [${IO_TYPES.join(', ')}]`, 'BadRequest');
    if (o.error_output === undefined) o.error_output = false;
    if (o.description === undefined || o.description === null) delete o.description;
    return o;
  });
}

function configRow(r: any): SoftwareConfig {
  return {
    id: r.id, name: r.name, group: r.config_group, config: fromJson(r.config, null),
    inputs: fromJson(r.inputs, []), outputs: fromJson(r.outputs, []), options: fromJson(r.options, null),
    creation_time: r.created_at, project: r.project_id,
  };
}

export interface NewConfig {
  id?: string; name?: string | null; group?: string | null; config?: unknown; inputs?: unknown; outputs?: unknown; options?: unknown;
}

export async function createConfig(db: Queryable, projectId: string, c: NewConfig): Promise<SoftwareConfig> {
  const id = c.id ?? uuid();
  if (c.options !== undefined && c.options !== null && (typeof c.options !== 'object' || Array.isArray(c.options))) {
    throw validationFailed('The "options" of a software config must be a map', 'BadRequest');
  }
  const row = {
    id, project_id: projectId, name: c.name ?? null, config_group: c.group || 'Heat::Ungrouped', config: toJson(c.config ?? null),
    inputs: toJson(normaliseInputs(c.inputs)), outputs: toJson(normaliseOutputs(c.outputs)), options: toJson(c.options ?? null),
    created_at: nowIso(),
  };
  // Plugins pass a stable id so a retried create finds the row it already wrote.
  if (c.id) {
    const have = await db.get('SELECT * FROM heat_software_configs WHERE id = ?', [id]);
    if (have) return configRow(have);
  }
  await db.run(`INSERT INTO heat_software_configs (id, project_id, name, config_group, config, inputs, outputs, options, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  [row.id, row.project_id, row.name, row.config_group, row.config, row.inputs, row.outputs, row.options, row.created_at]);
  return configRow(row);
}

/** A config by id; `projectId` null means any project (admins, the engine). */
export async function getConfig(db: Queryable, id: string, projectId: string | null): Promise<SoftwareConfig> {
  const r = await db.get('SELECT * FROM heat_software_configs WHERE id = ?', [id]);
  if (!r || (projectId !== null && r.project_id !== projectId)) throw heatError(404, 'NotFound', `Software config with id ${id} not found`);
  return configRow(r);
}

export async function findConfig(db: Queryable, id: string): Promise<SoftwareConfig | null> {
  const r = await db.get('SELECT * FROM heat_software_configs WHERE id = ?', [id]);
  return r ? configRow(r) : null;
}

export async function listConfigs(db: Queryable, projectId: string | null, opts: { limit?: number; marker?: string } = {}): Promise<SoftwareConfig[]> {
  const where: string[] = [], params: any[] = [];
  if (projectId !== null) { where.push('project_id = ?'); params.push(projectId); }
  if (opts.marker) {
    const m = await db.get('SELECT created_at FROM heat_software_configs WHERE id = ?', [opts.marker]);
    if (!m) throw heatError(404, 'NotFound', `Software config with id ${opts.marker} not found`);
    where.push('(created_at > ? OR (created_at = ? AND id > ?))'); params.push(m.created_at, m.created_at, opts.marker);
  }
  let sql = `SELECT * FROM heat_software_configs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`;
  if (opts.limit !== undefined) { sql += ' LIMIT ?'; params.push(opts.limit); }
  return (await db.all(sql, params)).map(configRow);
}

/** Deletes a config; one that a deployment still uses cannot go (unless `force`, for derived configs). */
export async function deleteConfig(db: Queryable, id: string, projectId: string | null, opts: { force?: boolean } = {}): Promise<void> {
  await getConfig(db, id, projectId);
  if (!opts.force) {
    const used = await db.get('SELECT id FROM heat_software_deployments WHERE config_id = ?', [id]);
    if (used) throw heatError(400, 'InvalidRestrictedAction', `Software config with id ${id} can not be deleted as it is referenced.`);
  }
  await db.run('DELETE FROM heat_software_configs WHERE id = ?', [id]);
}

// ------------------------------------------------------------------ deployments

export type DeploymentStatus = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';

export interface SoftwareDeployment {
  id: string;
  config_id: string | null;
  server_id: string;
  input_values: Record<string, unknown>;
  output_values: Record<string, unknown>;
  action: string;
  status: string;
  status_reason: string;
  creation_time: string;
  updated_time: string | null;
  project: string;
  stack_user_project_id: string | null;
  /** Epoch ms after which an IN_PROGRESS deployment counts as timed out (null: never). */
  deadline: number | null;
}

export const TIMEOUT_REASON = 'Deployment cancelled.';

function deploymentRow(r: any): SoftwareDeployment {
  return {
    id: r.id, config_id: r.config_id, server_id: r.server_id, input_values: fromJson(r.input_values, {}),
    output_values: fromJson(r.output_values, {}), action: r.action, status: r.status, status_reason: r.status_reason,
    creation_time: r.created_at, updated_time: r.updated_at ?? null, project: r.project_id,
    stack_user_project_id: r.stack_user_project_id ?? null, deadline: r.deadline ? Number(r.deadline) : null,
  };
}

/**
 * IN_PROGRESS deployments nobody waits for any more become FAILED: their deadline passed, or the
 * resource that waits on them failed the same action (the engine gave up on it: stack timeout,
 * cancel, a sibling's failure). That is Heat's cancellation of the deployment; it is checked on
 * every read, so the API shows the failure without an engine poll left to notice it.
 */
async function expire(db: Queryable, rows: SoftwareDeployment[]): Promise<SoftwareDeployment[]> {
  const now = Date.now();
  const late: SoftwareDeployment[] = [];
  for (const d of rows) {
    if (d.status !== 'IN_PROGRESS') continue;
    if ((d.deadline !== null && d.deadline <= now) || (await abandonedByResource(db, d))) late.push(d);
  }
  if (!late.length) return rows;
  const servers = new Set<string>();
  for (const d of late) {
    const { changes } = await db.run(`UPDATE heat_software_deployments SET status = 'FAILED', status_reason = ?, updated_at = ?
      WHERE id = ? AND status = 'IN_PROGRESS'`, [TIMEOUT_REASON, nowIso(), d.id]);
    if (changes) { d.status = 'FAILED'; d.status_reason = TIMEOUT_REASON; servers.add(d.server_id); }
  }
  for (const s of servers) await publishServerMetadata(db, s);
  return rows;
}

/** Whether the deployment resource owning `d` (physical id = deployment id) failed the action `d` runs. */
async function abandonedByResource(db: Queryable, d: SoftwareDeployment): Promise<boolean> {
  // Only physical_id, action and status of the engine's table are relied on.
  const r = await db.get(`SELECT physical_id FROM heat_resources WHERE physical_id = ? AND action = ? AND status = 'FAILED'`, [d.id, d.action]);
  return !!r;
}

export interface NewDeployment {
  id?: string;
  config_id?: string | null;
  server_id: string;
  input_values?: Record<string, unknown>;
  action?: string;
  status?: string;
  status_reason?: string;
  stack_user_project_id?: string | null;
  deadline?: number | null;
}

const STATUSES = ['IN_PROGRESS', 'COMPLETE', 'FAILED'];

export async function createDeployment(db: Queryable, projectId: string, d: NewDeployment): Promise<SoftwareDeployment> {
  if (!d.server_id || typeof d.server_id !== 'string') throw validationFailed('"server_id" is required', 'BadRequest');
  if (d.status !== undefined && !STATUSES.includes(d.status)) throw validationFailed(`Invalid status ${d.status}`, 'BadRequest');
  if (d.input_values !== undefined && d.input_values !== null && (typeof d.input_values !== 'object' || Array.isArray(d.input_values))) {
    throw validationFailed('"input_values" must be a map', 'BadRequest');
  }
  if (d.config_id) await getConfig(db, d.config_id, null);
  const id = d.id ?? uuid();
  if (d.id) {
    const have = await db.get('SELECT * FROM heat_software_deployments WHERE id = ?', [id]);
    if (have) return deploymentRow(have);
  }
  const now = nowIso();
  await db.run(`INSERT INTO heat_software_deployments (id, project_id, server_id, config_id, input_values, output_values, action, status,
    status_reason, stack_user_project_id, deadline, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  [id, projectId, d.server_id, d.config_id ?? null, toJson(d.input_values ?? {}), '{}', d.action ?? 'INIT', d.status ?? 'COMPLETE',
    d.status_reason ?? '', d.stack_user_project_id ?? null, d.deadline ? String(d.deadline) : null, now, null]);
  await publishServerMetadata(db, d.server_id);
  return getDeployment(db, id, null);
}

export async function getDeployment(db: Queryable, id: string, projectId: string | null): Promise<SoftwareDeployment> {
  const r = await db.get('SELECT * FROM heat_software_deployments WHERE id = ?', [id]);
  if (!r || (projectId !== null && r.project_id !== projectId)) throw heatError(404, 'NotFound', `Deployment with id ${id} not found`);
  const [d] = await expire(db, [deploymentRow(r)]);
  return d;
}

export async function findDeployment(db: Queryable, id: string): Promise<SoftwareDeployment | null> {
  const r = await db.get('SELECT * FROM heat_software_deployments WHERE id = ?', [id]);
  return r ? (await expire(db, [deploymentRow(r)]))[0] : null;
}

export async function listDeployments(db: Queryable, projectId: string | null, opts: { serverId?: string } = {}): Promise<SoftwareDeployment[]> {
  const where: string[] = [], params: any[] = [];
  if (projectId !== null) { where.push('project_id = ?'); params.push(projectId); }
  if (opts.serverId) { where.push('server_id = ?'); params.push(opts.serverId); }
  const rows = await db.all(`SELECT * FROM heat_software_deployments${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
    ORDER BY created_at, id`, params);
  return expire(db, rows.map(deploymentRow));
}

export interface DeploymentChange {
  config_id?: string | null;
  input_values?: Record<string, unknown>;
  output_values?: Record<string, unknown>;
  action?: string;
  status?: string;
  status_reason?: string;
  deadline?: number | null;
}

export async function updateDeployment(db: Queryable, id: string, projectId: string | null, ch: DeploymentChange): Promise<SoftwareDeployment> {
  const d = await getDeployment(db, id, projectId);
  if (ch.status !== undefined && !STATUSES.includes(ch.status)) throw validationFailed(`Invalid status ${ch.status}`, 'BadRequest');
  if (ch.config_id) await getConfig(db, ch.config_id, null);
  const sets: string[] = [], params: any[] = [];
  const put = (col: string, v: any) => { sets.push(`${col} = ?`); params.push(v); };
  if (ch.config_id !== undefined) put('config_id', ch.config_id);
  if (ch.input_values !== undefined) put('input_values', toJson(ch.input_values ?? {}));
  if (ch.output_values !== undefined) put('output_values', toJson(ch.output_values ?? {}));
  if (ch.action !== undefined) put('action', ch.action);
  if (ch.status !== undefined) put('status', ch.status);
  if (ch.status_reason !== undefined) put('status_reason', ch.status_reason);
  if (ch.deadline !== undefined) put('deadline', ch.deadline ? String(ch.deadline) : null);
  put('updated_at', nowIso());
  await db.run(`UPDATE heat_software_deployments SET ${sets.join(', ')} WHERE id = ?`, [...params, id]);
  await publishServerMetadata(db, d.server_id);
  return getDeployment(db, id, null);
}

export async function deleteDeployment(db: Queryable, id: string, projectId: string | null): Promise<void> {
  const d = await getDeployment(db, id, projectId);
  await db.run('DELETE FROM heat_software_deployments WHERE id = ?', [id]);
  await publishServerMetadata(db, d.server_id);
}

/**
 * The outputs a server signalled for its deployment: COMPLETE, or FAILED when deploy_status_code is
 * non-zero or an error_output output carries a value. Only IN_PROGRESS deployments take signals.
 */
export async function signalDeployment(db: Queryable, id: string, details: unknown): Promise<SoftwareDeployment | null> {
  const d = await findDeployment(db, id);
  if (!d || d.status !== 'IN_PROGRESS') return d;
  const det: Record<string, unknown> = details && typeof details === 'object' && !Array.isArray(details) ? details as any : {};
  const outputs = d.config_id ? (await findConfig(db, d.config_id))?.outputs ?? [] : [];
  const ov: Record<string, unknown> = { ...d.output_values };
  const reasons: string[] = [];
  const code = det.deploy_status_code;
  if (code !== undefined && code !== null && code !== '' && String(code) !== '0') {
    reasons.push(`deploy_status_code : Deployment exited with non-zero status code: ${code}`);
  }
  for (const o of outputs) {
    if (!(o.name in det)) continue;
    ov[o.name] = det[o.name];
    if (o.error_output) reasons.push(`${o.name} : ${String(det[o.name])}`);
  }
  for (const k of ['deploy_stdout', 'deploy_stderr', 'deploy_status_code']) if (k in det) ov[k] = det[k];
  return updateDeployment(db, id, null, {
    output_values: ov,
    status: reasons.length ? 'FAILED' : 'COMPLETE',
    status_reason: reasons.length ? reasons.join(', ') : 'Outputs received',
  });
}

// ------------------------------------------------------------------ server metadata

/** A server's deployments as os-collect-config reads them: each deployment's (derived) config with
 *  its inputs carrying values, ordered by config name then creation. */
export async function serverDeployments(db: Queryable, serverId: string, projectId: string | null = null): Promise<Record<string, unknown>[]> {
  const params: any[] = [serverId];
  let sql = `SELECT d.id AS deployment_id, d.created_at AS d_created, d.updated_at AS d_updated, c.*
    FROM heat_software_deployments d JOIN heat_software_configs c ON c.id = d.config_id WHERE d.server_id = ?`;
  if (projectId !== null) { sql += ' AND d.project_id = ?'; params.push(projectId); }
  const rows = await db.all(sql, params);
  rows.sort((a, b) => (String(a.name ?? '') < String(b.name ?? '') ? -1 : String(a.name ?? '') > String(b.name ?? '') ? 1
    : a.d_created < b.d_created ? -1 : a.d_created > b.d_created ? 1 : a.deployment_id < b.deployment_id ? -1 : 1));
  return rows.map((r) => {
    const c = configRow(r);
    return {
      id: c.id, name: c.name, group: c.group, config: c.config, inputs: c.inputs, outputs: c.outputs, options: c.options,
      creation_time: c.creation_time, updated_time: r.d_updated ?? null, deployment_id: r.deployment_id,
    };
  });
}

/** Writes a server's deployments into its OS::Nova::Server resource's metadata, keeping other keys. */
export async function publishServerMetadata(db: Queryable, serverId: string): Promise<void> {
  await db.tx(async (t) => {
    await t.lock(`heat:server-metadata:${serverId}`);
    // Only physical_id, type and metadata of the engine's table are relied on.
    const row = await t.get(`SELECT metadata FROM heat_resources WHERE physical_id = ? AND type = 'OS::Nova::Server'${t.forUpdate}`, [serverId]);
    if (!row) return;
    const deployments = await serverDeployments(t, serverId);
    const md = fromJson<any>(row.metadata, {});
    const next = md && typeof md === 'object' && !Array.isArray(md) ? { ...md, deployments } : { deployments };
    await t.run(`UPDATE heat_resources SET metadata = ? WHERE physical_id = ? AND type = 'OS::Nova::Server'`, [JSON.stringify(next), serverId]);
  });
}

// ------------------------------------------------------------------ API views

export function configView(c: SoftwareConfig, detail = true): Record<string, unknown> {
  if (!detail) return { id: c.id, name: c.name, group: c.group, creation_time: c.creation_time, project: c.project };
  return {
    id: c.id, name: c.name, group: c.group, config: c.config, inputs: c.inputs, outputs: c.outputs, options: c.options,
    creation_time: c.creation_time, project: c.project,
  };
}

export function deploymentView(d: SoftwareDeployment): Record<string, unknown> {
  return {
    id: d.id, config_id: d.config_id, server_id: d.server_id, input_values: d.input_values, output_values: d.output_values,
    action: d.action, status: d.status, status_reason: d.status_reason, creation_time: d.creation_time, updated_time: d.updated_time,
  };
}
