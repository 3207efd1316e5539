import type { ReactNode } from 'react';
import { FormRow } from './Fields.js';
import { Section } from './Page.js';

/**
 * A titled section holding one form row, named by the section's title; the submit button is
 * disabled while `action` (a useAction) is busy, and `onSubmit` runs its write.
 */
export function FormSection({
  title,
  submit,
  action,
  onSubmit,
  children,
}: {
  title: string;
  submit: string;
  action: { busy: boolean };
  onSubmit(): Promise<void>;
  children: ReactNode;
}) {
  return (
    <Section title={title}>
      <FormRow label={title} onSubmit={() => void onSubmit()} busy={action.busy} submit={submit}>
        {children}
      </FormRow>
    </Section>
  );
}
