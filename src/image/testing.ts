// A small Glance client for the image tests: JSON calls under /image/v2 (asking for JSON errors,
// as the Python clients do), raw uploads and downloads.
import type { Readable } from 'node:stream';
import type { Session, TestCloud } from '../testing.ts';

export interface Glance {
  /** JSON request; `body` as a string is sent verbatim. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  /** PATCH with the v2.1 JSON-patch media type. */
  patch(id: string, ops: unknown, mediaType?: string): Promise<{ status: number; body: any; headers: Headers }>;
  create(fields?: Record<string, unknown>): Promise<any>;
  upload(id: string, data: Buffer | Readable | string, headers?: Record<string, string>, path?: string): Promise<{ status: number; body: any }>;
  download(id: string, headers?: Record<string, string>): Promise<{ status: number; data: Buffer; headers: Headers }>;
}

export function glance(cloud: TestCloud, s: Session): Glance {
  const base = `${cloud.url}/image/v2`;
  const parse = async (r: Response) => {
    const text = await r.text();
    try { return text ? JSON.parse(text) : null; } catch { return text; }
  };
  const call: Glance['call'] = async (method, path, body, headers = {}) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { 'x-auth-token': s.token, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await parse(r), headers: r.headers };
  };
  return {
    call,
    patch: (id, ops, mediaType = 'application/openstack-images-v2.1-json-patch') =>
      call('PATCH', `/images/${id}`, ops, { 'content-type': mediaType }),
    async create(fields = {}) {
      const r = await call('POST', '/images', { disk_format: 'raw', container_format: 'bare', ...fields });
      if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async upload(id, data, headers = {}, path = 'file') {
      const r = await fetch(`${base}/images/${id}/${path}`, {
        method: 'PUT',
        headers: { 'x-auth-token': s.token, accept: 'application/json', 'content-type': 'application/octet-stream', ...headers },
        body: data as any,
        ...(typeof data === 'object' && !Buffer.isBuffer(data) ? { duplex: 'half' } : {}),
      } as RequestInit);
      return { status: r.status, body: await parse(r) };
    },
    async download(id, headers = {}) {
      const r = await fetch(`${base}/images/${id}/file`, { headers: { 'x-auth-token': s.token, accept: 'application/json', ...headers } });
      return { status: r.status, data: Buffer.from(await r.arrayBuffer()), headers: r.headers };
    },
  };
}

/** Makes a project with a member user of the same name (through Keystone's API) and logs it in. */
export async function altProject(cloud: TestCloud, adminSession: Session, name: string): Promise<Session> {
  const ks = async (method: string, path: string, body?: unknown) => {
    const r = await adminSession.json(method, `/identity/v3${path}`, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const project = (await ks('POST', '/projects', { project: { name, domain_id: 'default' } })).project;
  const user = (await ks('POST', '/users', { user: { name, password: 'secret', domain_id: 'default', default_project_id: project.id } })).user;
  const role = (await ks('GET', '/roles?name=member')).roles[0];
  await ks('PUT', `/projects/${project.id}/users/${user.id}/roles/${role.id}`);
  const { login } = await import('../testing.ts');
  return login(cloud, name, 'secret', name);
}
