// /v3/projects (and their tags). Projects acting as domains (is_domain=true) are the domains
// themselves, reachable through this API as Keystone allows.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { type Keystone, notFound, DEFAULT_DOMAIN_ID } from '../keystone.ts';
import { member, check, name64, description, idOrNull, tags, tagName, type Schema } from '../validate.ts';
import {
  getProject, listProjects, createProject, updateProject, deleteProject, projectView,
  ancestors, descendants, type Project,
} from '../projects.ts';
import { getDomain, requireDomain, listDomains, createDomain, updateDomain, deleteDomain, type Domain } from '../domains.ts';
import { boolQuery, enabledFilter, query, collection } from './common.ts';

const options: Schema = { type: 'object', properties: { immutable: { type: ['boolean', 'null'] } }, additionalProperties: false };
const PROJECT_PROPS: Record<string, Schema> = {
  name: { ...name64, pattern: '\\S' }, description, domain_id: idOrNull, parent_id: idOrNull,
  enabled: { type: 'boolean' }, is_domain: { type: 'boolean' }, tags, options,
};
const KNOWN = new Set([...Object.keys(PROJECT_PROPS), 'id', 'links']);
const extraOf = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !KNOWN.has(k)));

/** A domain shown through the projects API. */
function domainAsProject(ks: Keystone, d: Domain) {
  return {
    ...d.extra, id: d.id, name: d.name, domain_id: null, parent_id: null, description: d.description ?? '',
    enabled: d.enabled, is_domain: true, tags: [], options: d.options,
    links: { self: `${ks.v3}/projects/${d.id}` },
  };
}

export function projectTarget(p: Project) {
  return { project: { id: p.id, domain_id: p.domainId, name: p.name, parent_id: p.parentId } };
}

export async function projectRoutes(app: FastifyInstance, ks: Keystone) {
  const authed = { preHandler: ks.authenticate };
  const tagList = (q: string | undefined) => (q === undefined ? undefined : q.split(',').filter(Boolean));

  app.get('/projects', authed, async (req) => {
    const q = query(req);
    const a = req.auth!;
    ks.enforce(req, 'identity:list_projects', { domain_id: a.domainId ?? q.domain_id ?? null });
    if (q.is_domain !== undefined && boolQuery(q.is_domain)) {
      const ds = await listDomains(ks.db, { name: q.name, enabled: enabledFilter(q.enabled) });
      return collection(ks, req, 'projects', ds.filter((d) => !a.domainId || d.id === a.domainId).map((d) => domainAsProject(ks, d)));
    }
    let ps = await listProjects(ks.db, {
      domainId: q.domain_id, name: q.name, enabled: enabledFilter(q.enabled), parentId: q.parent_id,
      tags: tagList(q.tags), tagsAny: tagList(q['tags-any']), notTags: tagList(q['not-tags']), notTagsAny: tagList(q['not-tags-any']),
    });
    // A domain-scoped caller sees its own domain's projects only.
    if (a.domainId) ps = ps.filter((p) => p.domainId === a.domainId);
    return collection(ks, req, 'projects', ps.map((p) => projectView(ks, p)));
  });

  app.post('/projects', authed, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, any>;
    const raw = body && typeof body.project === 'object' && body.project && !Array.isArray(body.project) ? body.project : {};
    const a = req.auth!;
    const domainId: string | null = raw.domain_id !== undefined ? raw.domain_id
      : raw.is_domain === true ? null : a.domainId ?? DEFAULT_DOMAIN_ID;
    ks.enforce(req, 'identity:create_project', { project: { ...raw, domain_id: domainId } });
    const f = member(req.body, 'project', { required: ['name'], properties: PROJECT_PROPS });
    if (f.is_domain === true) {
      if (f.parent_id || f.domain_id) throw new ApiError(400, 'Only root projects can act as domains: domain_id and parent_id must be empty.');
      const d = await ks.db.tx((tx) => createDomain(tx, {
        name: f.name, description: f.description, enabled: f.enabled, extra: extraOf(f), options: cleanOptions(f.options),
      }));
      reply.code(201);
      return { project: domainAsProject(ks, d) };
    }
    const p = await ks.db.tx(async (tx) => {
      let dom = domainId;
      if (f.parent_id) {
        const parent = await getProject(tx, f.parent_id);
        if (!parent) {
          // Keystone accepts a domain id as the parent of a top-level project.
          if (!(await getDomain(tx, f.parent_id))) throw notFound('project', f.parent_id);
          if (raw.domain_id !== undefined && raw.domain_id !== f.parent_id) throw new ApiError(400, 'The parent domain must be the project domain.');
          dom = f.parent_id;
        } else if (raw.domain_id === undefined) dom = parent.domainId;
      }
      if (!dom) throw new ApiError(400, 'Expecting to find domain_id in project.');
      const d = await requireDomain(tx, dom);
      return createProject(tx, {
        name: f.name, domainId: d.id, parentId: f.parent_id && f.parent_id !== d.id ? f.parent_id : null,
        description: f.description, enabled: f.enabled, tags: f.tags, extra: extraOf(f), options: cleanOptions(f.options),
      });
    });
    reply.code(201);
    return { project: projectView(ks, p) };
  });

  type Loaded = Project | Domain & { isDomain: true };
  /** As Keystone: the policy is checked with whatever exists (nothing for an unknown id), then 404. */
  const load = async (req: FastifyRequest, rule: string): Promise<Loaded> => {
    const { id } = req.params as { id: string };
    const p = await getProject(ks.db, id);
    const d = p ? null : await getDomain(ks.db, id);
    const x: Loaded | null = p ?? (d ? { ...d, isDomain: true } : null);
    ks.enforce(req, rule, !x ? {} : 'isDomain' in x ? { project: { id: x.id, domain_id: null } } : projectTarget(x));
    if (!x) throw notFound('project', id);
    return x;
  };

  app.get('/projects/:id', authed, async (req) => {
    const x = await load(req, 'identity:get_project');
    if ('isDomain' in x) return { project: domainAsProject(ks, x) };
    const q = query(req);
    const view: Record<string, unknown> = projectView(ks, x);
    const readable = (p: Project) => ks.allowed(req.auth!, 'identity:get_project', projectTarget(p));
    if (q.parents_as_list !== undefined && q.parents_as_ids !== undefined) throw new ApiError(400, 'Cannot use parents_as_list and parents_as_ids query params at the same time.');
    if (q.subtree_as_list !== undefined && q.subtree_as_ids !== undefined) throw new ApiError(400, 'Cannot use subtree_as_list and subtree_as_ids query params at the same time.');
    if (boolQuery(q.parents_as_list)) {
      view.parents = (await ancestors(ks.db, x)).filter(readable).map((p) => ({ project: projectView(ks, p) }));
    }
    if (boolQuery(q.parents_as_ids)) {
      // Nested ids, nearest parent outermost: {"parent": {"grandparent": null}}
      let nested: Record<string, unknown> | null = null;
      for (const p of (await ancestors(ks.db, x)).reverse()) nested = { [p.id]: nested };
      view.parents = nested;
    }
    if (boolQuery(q.subtree_as_list)) {
      view.subtree = (await descendants(ks.db, x.id)).filter(readable).map((p) => ({ project: projectView(ks, p) }));
    }
    if (boolQuery(q.subtree_as_ids)) {
      const all = await descendants(ks.db, x.id);
      const build = (pid: string): Record<string, unknown> | null => {
        const kids = all.filter((p) => p.parentId === pid);
        return kids.length ? Object.fromEntries(kids.map((k) => [k.id, build(k.id)])) : null;
      };
      view.subtree = build(x.id);
    }
    return { project: view };
  });

  app.patch('/projects/:id', authed, async (req) => {
    const x = await load(req, 'identity:update_project');
    const id = x.id;
    const f = member(req.body, 'project', { minProperties: 1, properties: PROJECT_PROPS });
    if ('domain_id' in f && f.domain_id !== ('isDomain' in x ? null : x.domainId)) throw new ApiError(400, 'Update of `domain_id` is not allowed.');
    if ('is_domain' in f && f.is_domain !== ('isDomain' in x)) throw new ApiError(400, 'Update of `is_domain` is not allowed.');
    if ('isDomain' in x) {
      if ('parent_id' in f && f.parent_id !== null) throw new ApiError(403, 'Update of `parent_id` is not allowed.');
      const d = await ks.db.tx((tx) => updateDomain(ks, tx, id, {
        name: f.name, description: f.description, enabled: f.enabled, extra: extraOf(f), options: f.options,
      }));
      return { project: domainAsProject(ks, d) };
    }
    if ('parent_id' in f && f.parent_id !== (x.parentId ?? x.domainId)) throw new ApiError(403, 'Update of `parent_id` is not allowed.');
    const p = await ks.db.tx((tx) => updateProject(ks, tx, id, {
      name: f.name, description: f.description, enabled: f.enabled, tags: f.tags, extra: extraOf(f), options: f.options,
    }));
    return { project: projectView(ks, p) };
  });

  app.delete('/projects/:id', authed, async (req, reply) => {
    const x = await load(req, 'identity:delete_project');
    const id = x.id;
    if ('isDomain' in x) await ks.db.tx((tx) => deleteDomain(ks, tx, id));
    else await ks.db.tx((tx) => deleteProject(ks, tx, id, boolQuery(query(req).cascade)));
    reply.code(204).send();
  });

  // Tags (https://docs.openstack.org/api-ref/identity/v3/#project-tags)
  const loadProject = async (req: FastifyRequest, rule: string) => {
    const { id } = req.params as { id: string };
    const p = await getProject(ks.db, id);
    ks.enforce(req, rule, p ? projectTarget(p) : {});
    if (!p) throw notFound('project', id);
    return p;
  };
  app.get('/projects/:id/tags', authed, async (req) => ({ tags: (await loadProject(req, 'identity:list_project_tags')).tags }));
  app.put('/projects/:id/tags', authed, async (req) => {
    const p = await loadProject(req, 'identity:update_project_tags');
    const f = member(req.body, 'tags', tags) as unknown as string[];
    const next = await ks.db.tx((tx) => updateProject(ks, tx, p.id, { tags: f }));
    return { tags: next.tags };
  });
  app.delete('/projects/:id/tags', authed, async (req, reply) => {
    const p = await loadProject(req, 'identity:delete_project_tags');
    await ks.db.tx((tx) => updateProject(ks, tx, p.id, { tags: [] }));
    reply.code(204).send();
  });
  app.get('/projects/:id/tags/:tag', { ...authed, exposeHeadRoute: false }, async (req, reply) => {
    const p = await loadProject(req, 'identity:get_project_tag');
    const { tag } = req.params as { tag: string };
    if (!p.tags.includes(tag)) throw notFound('project tag', tag);
    reply.code(204).send();
  });
  app.head('/projects/:id/tags/:tag', authed, async (req, reply) => {
    const p = await loadProject(req, 'identity:get_project_tag');
    const { tag } = req.params as { tag: string };
    if (!p.tags.includes(tag)) throw notFound('project tag', tag);
    reply.code(204).send();
  });
  app.put('/projects/:id/tags/:tag', authed, async (req, reply) => {
    const p = await loadProject(req, 'identity:create_project_tag');
    const { tag } = req.params as { tag: string };
    check(tagName, tag, 'tag');
    if (!p.tags.includes(tag)) {
      if (p.tags.length >= 80) throw new ApiError(400, 'Project tag list is full: a project can have at most 80 tags.');
      await ks.db.tx((tx) => updateProject(ks, tx, p.id, { tags: [...p.tags, tag] }));
    }
    reply.code(201).header('Location', `${ks.v3}/projects/${p.id}/tags/${encodeURIComponent(tag)}`).send();
  });
  app.delete('/projects/:id/tags/:tag', authed, async (req, reply) => {
    const p = await loadProject(req, 'identity:delete_project_tag');
    const { tag } = req.params as { tag: string };
    if (!p.tags.includes(tag)) throw notFound('project tag', tag);
    await ks.db.tx((tx) => updateProject(ks, tx, p.id, { tags: p.tags.filter((t) => t !== tag) }));
    reply.code(204).send();
  });
}

/** Options as stored: null means "unset". */
export function cleanOptions(o: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== null));
}
