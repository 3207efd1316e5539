import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** The value with its schema defaults filled in, or null after listing what is wrong. */
export function checked<T extends TSchema>(
  schema: T,
  raw: unknown,
  path: string,
  errors: string[],
): Static<T> | null {
  const value = Value.Default(schema, Value.Clone(raw));
  const problems = [...Value.Errors(schema, value)];
  for (const problem of problems)
    errors.push(`CONFIG_FILE ${path}${problem.path || (path ? '' : '/')}: ${problem.message}`);
  return problems.length > 0 ? null : (value as Static<T>);
}
