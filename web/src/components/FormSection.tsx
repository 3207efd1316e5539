import type { ReactNode } from 'react';
import { FormRow } from './Fields.js';
import { Section } from './Page.js';

/** A titled section holding one form row; the form is named by the section's title. */
export function FormSection({
  title,
  submit,
  busy,
  onSubmit,
  children,
}: {
  title: string;
  submit: string;
  busy: boolean;
  onSubmit(): void;
  children: ReactNode;
}) {
  return (
    <Section title={title}>
      <FormRow label={title} onSubmit={onSubmit} busy={busy} submit={submit}>
        {children}
      </FormRow>
    </Section>
  );
}
