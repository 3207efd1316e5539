import { InvalidArgumentError, Option } from 'commander';
import type { TenantRole } from '../domain/roles.js';
import { TENANT_ROLES } from '../services/access/permissions.js';

/**
 * Options several commands share, and parsers for option values, so a bad value is refused while the command line is read,
 * before anything is opened, with commander's message naming the option and the value.
 */

/** A whole number from `min` to `max`. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`It must be a whole number ${range}.`);
    }
    return number;
  };
}

/** A date and time, such as 2027-01-01T00:00:00Z. */
export function dateTime(value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError('It must be a date and time such as 2027-01-01T00:00:00Z.');
  return date;
}

/** `a, b,c` as ['a', 'b', 'c']; empty items are dropped. */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** `--json`: the entity's JSON form (src/domain) instead of a line of text. */
export const jsonOption = (): Option => new Option('--json', 'Print JSON');

/** `--role`, one of the tenant roles; `fallback` when absent. */
export function roleOption(fallback?: TenantRole): Option {
  const option = new Option('--role <role>', 'The role').choices(TENANT_ROLES);
  return fallback === undefined ? option : option.default(fallback);
}
