import { useState } from 'react';

/**
 * A secret the API shows this once (a new key's, a webhook's): shown with a copy button and
 * a warning, until dismissed.
 */
export function SecretReveal({
  label,
  secret,
  onDone,
}: {
  label: string;
  secret: string;
  onDone(): void;
}) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('The browser refused the clipboard: select the secret and copy it by hand.');
    }
  };
  return (
    <section className="secret" aria-label={label}>
      <p>
        <strong>{label}.</strong> Copy it now: it is not shown again.
      </p>
      <code className="secret-value" data-testid="secret">
        {secret}
      </code>
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={() => void copy()}>
          Copy secret
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
      {copied && <p role="status">{copied}</p>}
    </section>
  );
}
