import { type ReactNode, useState } from 'react';
import { api } from '../api.js';
import { useCollection } from '../hooks.js';
import { ConfirmButton } from './ConfirmDialog.js';
import { SecretReveal } from './SecretReveal.js';

/** What a key list needs of a key: its ID, its name and, once, its secret. */
export interface SecretKey {
  id: string;
  name: string;
  secret?: string;
}

/**
 * Keys listed at `path` and rotated or revoked below it; a new secret (of a created or rotated
 * key) is kept until its reveal is dismissed, since the API shows it only once.
 */
export function useKeys<K extends SecretKey>(path: string) {
  const keys = useCollection<K>(path);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const reveal = (label: string, key: K) => setSecret({ label, value: key.secret ?? '' });
  const rotate = async (key: K) => {
    const rotated = await api.post<K>(`${path}/${key.id}/rotate`, {});
    reveal(`New secret of ${key.name}`, rotated);
    keys.reload();
  };
  const revoke = (key: K) => keys.remove(key.id);
  const revealed = secret && (
    <SecretReveal label={secret.label} secret={secret.value} onDone={() => setSecret(null)} />
  );
  return { keys, reveal, revealed, rotate, revoke };
}

/** Rotate and revoke, each after asking; `noun` names the kind of key in the questions. */
export function KeyActions({
  name,
  noun,
  onRotate,
  onRevoke,
  revokeWarning,
}: {
  name: string;
  noun: string;
  onRotate(): Promise<void>;
  onRevoke(): Promise<void>;
  revokeWarning: ReactNode;
}) {
  return (
    <div className="actions">
      <ConfirmButton
        label={`Rotate ${name}`}
        title={`Rotate ${noun} ${name}?`}
        confirmLabel="Rotate"
        danger={false}
        onConfirm={onRotate}
      >
        The key gets a new secret; the old one keeps working for an hour.
      </ConfirmButton>
      <ConfirmButton
        label={`Revoke ${name}`}
        title={`Revoke ${noun} ${name}?`}
        confirmLabel="Revoke key"
        onConfirm={onRevoke}
      >
        {revokeWarning}
      </ConfirmButton>
    </div>
  );
}
