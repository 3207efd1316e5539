import { type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, useId } from 'react';

type InputProps = InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: string };

/** A labelled input (the label names it for screen readers and tests alike). */
export function TextField({ label, hint, ...input }: InputProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-describedby={hint ? hintId : undefined} {...input} />
      {hint && (
        <small id={hintId} className="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

type SelectProps = SelectHTMLAttributes<HTMLSelectElement> & {
  label: string;
  options: { value: string; label: string }[];
};

export function SelectField({ label, options, ...select }: SelectProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} {...select}>
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </div>
  );
}

/** A form laid out as one row of fields and its submit button. */
export function FormRow({
  label,
  onSubmit,
  busy,
  submit,
  children,
}: {
  label: string;
  onSubmit(): void;
  busy: boolean;
  submit: string;
  children: ReactNode;
}) {
  return (
    <form
      aria-label={label}
      className="form-row"
      onSubmit={(event) => {
        event.preventDefault();
        onSubmit();
      }}
    >
      {children}
      <button type="submit" className="primary" disabled={busy}>
        {submit}
      </button>
    </form>
  );
}

/** `a, b` → ['a', 'b']; empty → null (no limit). */
export function modelList(text: string): string[] | null {
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return names.length === 0 ? null : names;
}
