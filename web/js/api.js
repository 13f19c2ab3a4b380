// Calls to the API v1: the bearer token, JSON in and out, and errors as the
// API's problem+json — its Spanish `detail` is what the clerk reads. A 401
// sends the user to sign in again (the view's filters are kept).
import { apiBase } from './config.js';
import { session, signIn } from './auth.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `La solicitud falló (HTTP ${status}).`);
    this.status = status;
    this.code = problem?.code || 'error';
    this.problems = problem?.problems;
  }
}

/** A new key for one logical request: retries of it change nothing. */
export function idempotencyKey() {
  return crypto.randomUUID();
}

/**
 * `method` `path` (under /v1) with an optional JSON `body`; answers the
 * parsed JSON (or the Response when `raw`). Throws ApiError.
 */
export async function call(path, { method = 'GET', body, headers = {}, raw = false, auth = true } = {}) {
  const h = { accept: 'application/json', ...headers };
  if (auth) {
    const s = session();
    if (!s) {
      await signIn();
      throw new ApiError(401, { code: 'no_autenticado', detail: 'Inicie sesión para continuar.' });
    }
    h.authorization = `Bearer ${s.token}`;
  }
  if (body !== undefined) h['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch((await apiBase()) + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, {
      code: 'sin_conexion',
      detail: 'No hay conexión con el servidor. Revise su red e intente de nuevo; no se perdió nada.',
    });
  }
  if (response.status === 401 && auth) {
    await signIn();
    throw new ApiError(401, { code: 'no_autenticado', detail: 'Su sesión terminó; inicie sesión de nuevo.' });
  }
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, problem);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** Path segments, escaped. */
export function path(...segments) {
  return '/' + segments.map((s) => encodeURIComponent(s)).join('/');
}
