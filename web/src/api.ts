/**
 * The admin panel's one way to the gateway: same-origin fetches that carry the session
 * cookie, the CSRF token on every state-changing call, and OpenAI-style errors turned into
 * an ApiError whose message is shown to the user as it is.
 */

export interface ErrorBody {
  error?: { message?: string; type?: string; code?: string | null; param?: string | null };
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly param: string | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;
let onSignedOut: () => void = () => {};

/** What to do when the session is gone (expired, revoked key): the app shows the sign-in. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

/** Set on sign-in and on each session check; cleared on sign-out. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

async function errorOf(response: Response): Promise<ApiError> {
  let body: ErrorBody = {};
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    // Not JSON (a proxy's page): the status text is all there is.
  }
  const message =
    body.error?.message ?? `The server answered ${response.status} ${response.statusText}.`;
  return new ApiError(
    message,
    response.status,
    body.error?.code ?? null,
    body.error?.param ?? null,
  );
}

/** Calls the API; resolves with the parsed JSON body (undefined for 204). */
export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (WRITES.has(method) && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError('The gateway could not be reached. Check the connection.', 0, null, null);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    // A 401 from the API with a session in hand means the session ended under the page.
    if (response.status === 401 && csrfToken !== null && !path.startsWith('/ui/api/session'))
      onSignedOut();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, body),
  delete: <T>(path: string) => request<T>('DELETE', path),
};

/** `/admin/v1/tenants/{tenant}` plus `rest`, the tenant's slug or id encoded. */
export function tenantPath(tenant: string, rest = ''): string {
  return `/admin/v1/tenants/${encodeURIComponent(tenant)}${rest}`;
}

/** A query string of the non-empty values, with its `?`, or ''. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** The text of an error for the user. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}
