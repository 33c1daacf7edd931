// /v1/{tenant_id}/software_configs and /software_deployments, mounted by the orchestration API
// inside its authenticated scope (req.auth is set). Bodies and answers are Heat's.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../../core/service.ts';
import { validationFailed } from '../types.ts';
import {
  configView, createConfig, createDeployment, deleteConfig, deleteDeployment, deploymentView, getConfig, getDeployment, listConfigs,
  listDeployments, serverDeployments, updateDeployment,
} from './store.ts';

const isAdmin = (req: FastifyRequest) => !!req.auth?.roles.includes('admin');
const projectOf = (req: FastifyRequest) => req.auth!.projectId ?? '';
/** Admins reach any project's configs and deployments by id; others only their project's. */
const scopeOf = (req: FastifyRequest) => (isAdmin(req) ? null : projectOf(req));

function bodyOf(req: FastifyRequest): Record<string, any> {
  const b = req.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw validationFailed('The request body must be a JSON object', 'BadRequest');
  return b as Record<string, any>;
}

function intParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw validationFailed(`Invalid value '${v}' for ${name}`, 'BadRequest');
  return n;
}

function strField(b: Record<string, any>, k: string): string | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw validationFailed(`"${k}" must be a string`, 'BadRequest');
  return v;
}

export async function softwareRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const db = ctx.db;

  app.get('/software_configs', async (req) => {
    const q = req.query as Record<string, string>;
    const list = await listConfigs(db, projectOf(req), { limit: intParam(q.limit, 'limit'), marker: q.marker || undefined });
    return { software_configs: list.map((c) => configView(c, false)) };
  });

  app.post('/software_configs', async (req) => {
    const b = bodyOf(req);
    const c = await createConfig(db, projectOf(req), {
      name: strField(b, 'name') ?? null, group: strField(b, 'group') ?? null, config: b.config, inputs: b.inputs, outputs: b.outputs,
      options: b.options,
    });
    return { software_config: configView(c) };
  });

  app.get('/software_configs/:id', async (req) => {
    const { id } = req.params as { id: string };
    return { software_config: configView(await getConfig(db, id, scopeOf(req))) };
  });

  app.delete('/software_configs/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    await deleteConfig(db, id, scopeOf(req));
    return reply.code(204).send();
  });

  app.get('/software_deployments', async (req) => {
    const q = req.query as Record<string, string>;
    const list = await listDeployments(db, projectOf(req), { serverId: q.server_id || undefined });
    return { software_deployments: list.map(deploymentView) };
  });

  app.post('/software_deployments', async (req) => {
    const b = bodyOf(req);
    const d = await createDeployment(db, projectOf(req), {
      server_id: strField(b, 'server_id') ?? '', config_id: strField(b, 'config_id') ?? null, input_values: b.input_values ?? {},
      action: strField(b, 'action'), status: strField(b, 'status'), status_reason: strField(b, 'status_reason'),
      stack_user_project_id: strField(b, 'stack_user_project_id') ?? null,
    });
    return { software_deployment: deploymentView(d) };
  });

  app.get('/software_deployments/metadata/:server_id', async (req) => {
    const { server_id } = req.params as { server_id: string };
    return { metadata: await serverDeployments(db, server_id, scopeOf(req)) };
  });

  app.get('/software_deployments/:id', async (req) => {
    const { id } = req.params as { id: string };
    return { software_deployment: deploymentView(await getDeployment(db, id, scopeOf(req))) };
  });

  app.put('/software_deployments/:id', async (req) => {
    const { id } = req.params as { id: string };
    const b = bodyOf(req);
    for (const k of ['input_values', 'output_values']) {
      if (b[k] !== undefined && b[k] !== null && (typeof b[k] !== 'object' || Array.isArray(b[k]))) throw validationFailed(`"${k}" must be a map`, 'BadRequest');
    }
    const d = await updateDeployment(db, id, scopeOf(req), {
      config_id: strField(b, 'config_id'), input_values: b.input_values ?? undefined, output_values: b.output_values ?? undefined,
      action: strField(b, 'action'), status: strField(b, 'status'), status_reason: strField(b, 'status_reason'),
    });
    return { software_deployment: deploymentView(d) };
  });

  app.delete('/software_deployments/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    await deleteDeployment(db, id, scopeOf(req));
    return reply.code(204).send();
  });
}
