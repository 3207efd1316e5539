import { useCallback, useEffect, useMemo, useState } from 'react';
import { ApiError, api, setCsrfToken, whenSignedOut } from './api.js';
import { Layout } from './components/Layout.js';
import { ErrorMessage, Loading } from './components/Status.js';
import { SignIn } from './pages/SignIn.js';
import { Routes } from './Routes.js';
import { usePath } from './router.js';
import { SessionContext, type SessionContextValue } from './session.js';
import type { Session } from './types.js';

type State =
  | { kind: 'checking' }
  | { kind: 'out' }
  | { kind: 'in'; session: Session }
  | {
      kind: 'failed';
      message: string;
    };

/** Asks the gateway for the current session, then shows the sign-in page or the panel. */
export function App() {
  const [state, setState] = useState<State>({ kind: 'checking' });
  const path = usePath();
  // The tenant a platform admin manages: the one in the address, kept while it visits the
  // platform pages, so the tenant menu stays.
  const [picked, setPicked] = useState<string | null>(null);
  const inPath = /^t\/([^/]+)/.exec(path)?.[1];
  useEffect(() => {
    if (inPath !== undefined) setPicked(decodeURIComponent(inPath));
  }, [inPath]);

  const signedIn = useCallback((session: Session) => {
    setCsrfToken(session.csrf_token);
    setState({ kind: 'in', session });
  }, []);

  useEffect(() => {
    whenSignedOut(() => {
      setCsrfToken(null);
      setState({ kind: 'out' });
    });
    api.get<Session>('/ui/api/session').then(signedIn, (error: unknown) => {
      if (error instanceof ApiError && error.status === 401) setState({ kind: 'out' });
      else setState({ kind: 'failed', message: error instanceof Error ? error.message : '' });
    });
  }, [signedIn]);

  const context = useMemo<SessionContextValue | null>(
    () =>
      state.kind === 'in'
        ? {
            session: state.session,
            signOut: async () => {
              await api.delete('/ui/api/session').catch(() => undefined);
              setCsrfToken(null);
              setState({ kind: 'out' });
            },
          }
        : null,
    [state],
  );

  if (state.kind === 'checking')
    return (
      <main id="main">
        <Loading what="the session" />
      </main>
    );
  if (state.kind === 'failed')
    return (
      <main id="main">
        <h1>llm-backend admin</h1>
        <ErrorMessage message={state.message} />
      </main>
    );
  if (state.kind === 'out' || context === null) return <SignIn onSignedIn={signedIn} />;
  const principal = state.session.principal;
  const tenant =
    principal.kind === 'tenant'
      ? principal.tenant_id
      : inPath !== undefined
        ? decodeURIComponent(inPath)
        : picked;
  return (
    <SessionContext.Provider value={context}>
      <Layout tenant={tenant}>
        <Routes path={path} tenant={tenant} />
      </Layout>
    </SessionContext.Provider>
  );
}
