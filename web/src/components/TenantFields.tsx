import { TENANT_ROLES } from '../types.js';
import { SelectField, TextField } from './Fields.js';

const roleOptions = TENANT_ROLES.map((role) => ({ value: role, label: role }));

/** The tenant role of a user or key. */
export function RoleField({ value, onChange }: { value: string; onChange(role: string): void }) {
  return (
    <SelectField
      label="Role"
      options={roleOptions}
      value={value}
      onChange={(e) => onChange(e.target.value)}
    />
  );
}

/** Comma-separated model names (read with modelList); `hint` says what empty means here. */
export function AllowedModelsField({
  value,
  onChange,
  hint,
}: {
  value: string;
  onChange(models: string): void;
  hint: string;
}) {
  return (
    <TextField
      label="Allowed models"
      value={value}
      onChange={(e) => onChange(e.target.value)}
      hint={hint}
    />
  );
}
