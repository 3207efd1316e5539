import { type ReactNode, useState } from 'react';
import { ConfirmButton } from './ConfirmDialog.js';
import { SelectField, TextField } from './Fields.js';

export const scopeOptions = [
  { value: 'tenant', label: 'Tenant' },
  { value: 'user', label: 'User' },
  { value: 'key', label: 'Key' },
];

export type ScopeTarget = ReturnType<typeof useScope>;

/** Whom a rule holds: the tenant, or one of its users or keys (then its ID is asked for). */
export function useScope() {
  const [scope, setScope] = useState('tenant');
  const [subject, setSubject] = useState('');
  // The body's first fields, in the order the API has always been sent them.
  const body = { scope, ...(scope !== 'tenant' ? { subject_id: subject.trim() } : {}) };
  return { scope, setScope, subject, setSubject, body };
}

export function ScopeFields({ target }: { target: ScopeTarget }) {
  return (
    <>
      <SelectField
        label="Scope"
        options={scopeOptions}
        value={target.scope}
        onChange={(e) => target.setScope(e.target.value)}
      />
      {target.scope !== 'tenant' && (
        <TextField
          label="User or key ID"
          required
          value={target.subject}
          onChange={(e) => target.setSubject(e.target.value)}
        />
      )}
    </>
  );
}

/** Lifts one rule (a limit, a quota) after asking; `children` say what lifting it means. */
export function LiftButton({
  noun,
  id,
  onConfirm,
  children,
}: {
  noun: string;
  id: string;
  onConfirm(): Promise<void>;
  children: ReactNode;
}) {
  return (
    <ConfirmButton
      label={`Lift ${noun} ${id}`}
      title={`Lift this ${noun}?`}
      confirmLabel={`Lift ${noun}`}
      onConfirm={onConfirm}
    >
      {children}
    </ConfirmButton>
  );
}
