// Glance's error format. Glance raises webob HTTP exceptions, and webob renders them according to
// the request's Accept header: JSON ({"message", "code", "title"}), HTML, or plain text (no
// Accept header at all). The message is webob's body template: the explanation, "<br /><br />",
// then the detail. A 401 comes from keystonemiddleware instead and is always Keystone-style JSON.
import type { FastifyRequest } from 'fastify';
import { ApiError, HTTP_TITLES } from '../core/errors.ts';

/** An error raised the way Glance raises webob.exc.HTTP*(explanation=..., detail=...). */
export function glanceError(status: number, explanation?: string, detail?: string, headers?: Record<string, string>): ApiError {
  return new ApiError(status, explanation ?? DEFAULT_EXPLANATIONS[status] ?? '', { details: detail, headers });
}

export const badRequest = (m: string) => glanceError(400, m);
export const forbidden = (m: string) => glanceError(403, m);
export const notFound = (m?: string) => glanceError(404, m);
export const conflict = (m: string) => glanceError(409, m);
export const tooLarge = (m: string) => glanceError(413, m);

/** webob's own explanations, used when Glance raises an exception without one. */
const DEFAULT_EXPLANATIONS: Record<number, string> = {
  400: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  401: 'This server could not verify that you are authorized to access the document you requested.',
  403: 'Access was denied to this resource.',
  404: 'The resource could not be found.',
  409: 'There was a conflict when trying to complete your request.',
  410: 'This resource is no longer available.  No forwarding address is given.',
  413: 'The body of your request was too large for this server.',
  416: 'The Range requested is not available.',
  500: 'The server has either erred or is incapable of performing the requested operation.',
  503: 'The server is currently unavailable. Please try again at a later time.',
};

const STATUS_TEXT: Record<number, string> = { ...HTTP_TITLES, 416: 'Requested Range Not Satisfiable' };

/** Which of webob's renderings the Accept header selects: 'html', 'json' or 'plain'. */
export function negotiate(accept: string | undefined): 'html' | 'json' | 'plain' {
  if (accept === undefined || accept.trim() === '') return 'plain';
  const ranges: { type: string; sub: string; q: number }[] = [];
  for (const part of accept.split(',')) {
    const [range, ...params] = part.trim().split(';');
    const m = /^([^\s/]+)\/([^\s/]+)$/.exec(range.trim());
    if (!m) return 'html'; // an invalid header accepts every offer, the first one wins
    let q = 1;
    for (const p of params) {
      const pm = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (pm) q = Number(pm[1]);
    }
    ranges.push({ type: m[1].toLowerCase(), sub: m[2].toLowerCase(), q });
  }
  const quality = (offer: string) => {
    const [t, s] = offer.split('/');
    let best = -1, spec = -1;
    for (const r of ranges) {
      const sp = r.type === t && r.sub === s ? 2 : r.type === t && r.sub === '*' ? 1 : r.type === '*' && r.sub === '*' ? 0 : -1;
      if (sp > spec) { spec = sp; best = r.q; }
    }
    return best;
  };
  const html = quality('text/html'), json = quality('application/json');
  if (html <= 0 && json <= 0) return 'plain';
  return json > html ? 'json' : 'html';
}

const htmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');

function stripTags(v: string): string {
  return v.replace(/\n/g, ' ').replace(/\r/g, '').replace(/<br.*?>/gis, '\n').replace(/<!--|-->/g, '').replace(/<.*?>/gs, '');
}

/** Renders an error exactly as webob does for the request's Accept header. */
export function renderGlanceError(e: ApiError, req: FastifyRequest): { body: unknown; contentType?: string } {
  if (e.status === 401) {
    return { body: { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } } };
  }
  const status = `${e.status} ${STATUS_TEXT[e.status] ?? 'Error'}`;
  const title = STATUS_TEXT[e.status] ?? 'Error';
  const detail = typeof e.extra.details === 'string' ? e.extra.details : '';
  const body = (esc: (s: string) => string) => {
    if (e.status === 415) {
      const ct = String(req.headers['content-type'] ?? '');
      return `The request media type ${esc(ct)} is not supported by this server.\n<br /><br />\n${esc(detail)}`;
    }
    if (e.status === 405) return `The method ${req.method} is not allowed for this resource. <br /><br />\n${esc(detail)}`;
    return `${esc(e.message)}<br /><br />\n${esc(detail)}\n\n`;
  };
  switch (negotiate(req.headers.accept)) {
    case 'json':
      return { body: { message: body((s) => s), code: status, title } };
    case 'html':
      return {
        body: `<html>\n <head>\n  <title>${status}</title>\n </head>\n <body>\n  <h1>${status}</h1>\n  ${body(htmlEscape)}\n </body>\n</html>`,
        contentType: 'text/html; charset=UTF-8',
      };
    default:
      return { body: `${status}\n\n${stripTags(body((s) => s))}`, contentType: 'text/plain; charset=UTF-8' };
  }
}
