// Heat's error body (its fault wrapper): {"code", "title", "explanation", "error": {"type",
// "message", "traceback"}}. error.type is the Heat exception class (ApiError.extra.name), or the
// HTTP exception's name when the API itself refused; title and explanation are the HTTP ones.
import type { FastifyInstance } from 'fastify';
import type { Context } from '../../core/service.ts';
import { useErrorFormat } from '../../core/http.ts';
import { HTTP_TITLES, type ApiError } from '../../core/errors.ts';

const EXPLANATIONS: Record<number, string> = {
  400: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  401: 'This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.',
  403: 'Access was denied to this resource.',
  404: 'The resource could not be found.',
  405: 'The method specified is not allowed for this resource.',
  406: 'The resource could not be generated that was acceptable to your browser (content of type application/json).',
  409: 'There was a conflict when trying to complete your request.',
  413: 'The body of your request was too large for this server.',
  415: 'The request media type is not supported by this server.',
  500: 'The server has either erred or is incapable of performing the requested operation.',
  501: 'The server has not implemented the requested method.',
  503: 'The server is currently unavailable. Please try again at a later time.',
};

/** webob's exception class names, the error type of errors that are not Heat exceptions. */
const HTTP_TYPES: Record<number, string> = {
  400: 'HTTPBadRequest', 401: 'HTTPUnauthorized', 403: 'HTTPForbidden', 404: 'HTTPNotFound',
  405: 'HTTPMethodNotAllowed', 406: 'HTTPNotAcceptable', 409: 'HTTPConflict', 413: 'HTTPRequestEntityTooLarge',
  415: 'HTTPUnsupportedMediaType', 500: 'HTTPInternalServerError', 501: 'HTTPNotImplemented', 503: 'HTTPServiceUnavailable',
};

export function heatFault(e: ApiError) {
  return {
    code: e.status,
    title: HTTP_TITLES[e.status] ?? 'Error',
    explanation: EXPLANATIONS[e.status] ?? '',
    error: { type: e.extra.name ?? HTTP_TYPES[e.status] ?? 'HTTPError', message: e.message, traceback: null },
  };
}

export function useHeatErrors(app: FastifyInstance, ctx: Context) {
  useErrorFormat(app, ctx, (e) => {
    // keystonemiddleware answers 401s before Heat sees the request, in its own format.
    if (e.status === 401 && !e.extra.name) return { body: { error: { code: 401, title: 'Unauthorized', message: e.message } } };
    return { body: heatFault(e) };
  });
}
