/** The admin panel's session cookie, as a browser would send it back. */
export const SESSION_COOKIE = 'llm_backend_session';

export interface PanelCall {
  method?: string;
  /** The session id to send in the cookie. */
  session?: string;
  csrf?: string;
  authorization?: string;
  body?: unknown;
}

/** A call as the web app makes it: the cookie, the CSRF header, a JSON body. */
export function panelFetch(base: string, path: string, call: PanelCall = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (call.session !== undefined) headers.cookie = `${SESSION_COOKIE}=${call.session}`;
  if (call.csrf !== undefined) headers['x-csrf-token'] = call.csrf;
  if (call.authorization !== undefined) headers.authorization = call.authorization;
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  const init: RequestInit = {
    method: call.method ?? 'GET',
    headers,
    body: call.body === undefined ? undefined : JSON.stringify(call.body),
    redirect: 'manual',
  };
  return fetch(`${base}${path}`, init);
}

/** The session cookie a response sets: its value and its attributes, lowercased. */
export function sessionCookieOf(
  response: Response,
): { value: string; attributes: string[] } | null {
  for (const line of response.headers.getSetCookie()) {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
    const [name, value = ''] = pair.split('=');
    if (name === SESSION_COOKIE)
      return { value, attributes: attributes.map((attribute) => attribute.toLowerCase()) };
  }
  return null;
}

export interface SessionJson {
  principal:
    | { kind: 'platform' }
    | {
        kind: 'tenant';
        tenant_id: string;
        tenant_name: string;
        role: string;
        user_id: string | null;
      };
  key_id: string | null;
  csrf_token: string;
  expires_at: string;
  idle_timeout_seconds: number;
}

/** Signs in with an API key: the session id from the cookie and the session JSON. */
export async function signIn(
  base: string,
  apiKey: string,
  call: PanelCall = {},
): Promise<{ id: string; session: SessionJson; response: Response }> {
  const response = await panelFetch(base, '/ui/api/session', {
    ...call,
    method: 'POST',
    body: { api_key: apiKey },
  });
  if (response.status !== 200)
    throw new Error(`sign-in answered ${response.status}: ${await response.text()}`);
  const cookie = sessionCookieOf(response);
  if (cookie === null) throw new Error('sign-in set no session cookie');
  return { id: cookie.value, session: (await response.json()) as SessionJson, response };
}
