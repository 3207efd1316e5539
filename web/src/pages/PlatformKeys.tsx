import { Page } from '../components/Page.js';

/** Platform keys are made and revoked on the command line: the API has no route for them. */
export function PlatformKeysPage() {
  return (
    <Page title="Platform keys">
      <p>
        Platform admin keys act on every tenant, so they are created and revoked on the
        gateway&apos;s host only, with the command line:
      </p>
      <pre>
        <code>{`llm-backend admin-key create --name ops
llm-backend admin-key list
llm-backend admin-key rotate <key_id>
llm-backend admin-key revoke <key_id>`}</code>
      </pre>
      <p>Revoking a key ends every session signed in with it.</p>
    </Page>
  );
}
