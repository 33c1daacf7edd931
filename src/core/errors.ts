// One error type for every service; each service's plugin renders it in its own wire format
// (Keystone's {"error": {...}}, Nova's {"itemNotFound": {...}}, Glance's, ...).

export class ApiError extends Error {
  readonly status: number;
  /** Extra fields some formats carry (e.g. a fault name override, response headers). */
  readonly extra: { name?: string; headers?: Record<string, string>; details?: unknown };
  constructor(status: number, message: string, extra: ApiError['extra'] = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

export const badRequest = (m: string) => new ApiError(400, m);
export const unauthorized = (m = 'The request you have made requires authentication.') => new ApiError(401, m);
export const forbidden = (m = 'You are not authorized to perform the requested action.') => new ApiError(403, m);
export const notFound = (m: string) => new ApiError(404, m);
export const methodNotAllowed = (m = 'The method is not allowed for the requested URL.') => new ApiError(405, m);
export const notAcceptable = (m: string) => new ApiError(406, m);
export const conflict = (m: string) => new ApiError(409, m);
export const gone = (m: string) => new ApiError(410, m);
export const tooLarge = (m = 'Request is too large.') => new ApiError(413, m);
export const unsupportedMediaType = (m: string) => new ApiError(415, m);
export const notImplemented = (m: string) => new ApiError(501, m);

export const HTTP_TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 409: 'Conflict', 410: 'Gone',
  413: 'Request Entity Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
};

/**
 * Turns anything thrown in a handler into an ApiError: our own errors pass through, Fastify's
 * validation, JSON-parse and body-limit errors become 4xx, anything else is a 500.
 */
export function toApiError(err: any): ApiError {
  if (err instanceof ApiError) return err;
  if (err?.validation) {
    const v = err.validation[0];
    const where = err.validationContext ?? 'body';
    const path = v?.instancePath ? `${where}${v.instancePath.replace(/\//g, '.')}` : where;
    let msg = `Invalid input for field/attribute ${path}. ${v?.message ?? 'is invalid'}`;
    if (v?.keyword === 'additionalProperties') msg = `Additional properties are not allowed ('${v.params?.additionalProperty}' was unexpected)`;
    return new ApiError(400, msg);
  }
  const code: string | undefined = err?.code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return tooLarge();
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return unsupportedMediaType('Unsupported Content-Type');
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return badRequest('Malformed request body: empty body');
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return badRequest('Invalid Content-Length');
  if (err instanceof SyntaxError || code === 'FST_ERR_CTP_INVALID_JSON_BODY') return badRequest('Malformed request body');
  const sc = err?.statusCode;
  if (typeof sc === 'number' && sc >= 400 && sc < 500) return new ApiError(sc, err.message ?? HTTP_TITLES[sc] ?? 'Error');
  return new ApiError(500, 'An unexpected error prevented the server from fulfilling your request.');
}
