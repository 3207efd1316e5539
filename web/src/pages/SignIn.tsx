import { useEffect, useState } from 'react';
import { api, messageOf } from '../api.js';
import { TextField } from '../components/Fields.js';
import { ErrorMessage } from '../components/Status.js';
import type { Session } from '../types.js';

interface OidcConfig {
  providers: { tenant: string; login_url: string }[];
}

/** Sign-in with an API key (kept by the server only: the browser gets a session cookie). */
export function SignIn({ onSignedIn }: { onSignedIn(session: Session): void }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [providers, setProviders] = useState<OidcConfig['providers']>([]);

  useEffect(() => {
    document.title = 'Sign in · llm-backend admin';
    api.get<OidcConfig>('/ui/api/oidc/config').then(
      (config) => setProviders(config.providers),
      // Without OIDC (or an older gateway) there is simply no SSO button.
      () => setProviders([]),
    );
  }, []);

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const session = await api.post<Session>('/ui/api/session', { api_key: key.trim() });
      setKey('');
      onSignedIn(session);
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <h1>Sign in to llm-backend admin</h1>
      <form
        aria-label="Sign in with an API key"
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <TextField
          label="API key"
          type="password"
          autoComplete="off"
          required
          value={key}
          onChange={(event) => setKey(event.target.value)}
          hint="A platform admin key, or a tenant key with a role that may use the admin API."
        />
        <ErrorMessage message={error} />
        <button type="submit" className="primary" disabled={busy || key.trim() === ''}>
          Sign in
        </button>
      </form>
      {providers.length > 0 && (
        <section aria-labelledby="sso-heading" className="sso">
          <h2 id="sso-heading">Single sign-on</h2>
          <ul>
            {providers.map((provider) => (
              <li key={provider.tenant}>
                <a className="button" href={provider.login_url}>
                  Sign in with SSO ({provider.tenant})
                </a>
              </li>
            ))}
          </ul>
        </section>
      )}
    </main>
  );
}
