import { GatewayError } from '../../errors/gateway-error.js';

/**
 * Which models a caller may use. The tenant, the key's user and the key may each hold a list
 * of model names; null at a level means no limit there. A request may use a model only if
 * every level allows it, so the effective list is the intersection of the lists given.
 */
export type AllowedModels = readonly string[] | null;

/** The most names one list may hold: a guard against pasted junk, far above real use. */
export const MAX_ALLOWED_MODELS = 256;
/** Model names are config file names, some with `/` (`meta-llama/Llama-3.1-8B`). */
export const MAX_MODEL_NAME = 256;

const invalid = (message: string) =>
  new GatewayError('invalid_request', { message, param: 'allowed_models' });

/**
 * A list as an admin sent it (HTTP body or CLI flag): null, or 1 to MAX_ALLOWED_MODELS
 * non-empty names, duplicates dropped. The checks do not trust the static types.
 */
export function validAllowedModels(value: unknown): string[] | null {
  if (value === null) return null;
  if (!Array.isArray(value))
    throw invalid('allowed_models must be an array of model names, or null for every model.');
  if (value.length === 0)
    throw invalid('allowed_models may not be empty: use null to allow every model.');
  if (value.length > MAX_ALLOWED_MODELS)
    throw invalid(`allowed_models may hold at most ${MAX_ALLOWED_MODELS} models.`);
  for (const name of value) {
    if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_MODEL_NAME)
      throw invalid(
        `Each model name must be a non-empty string of at most ${MAX_MODEL_NAME} characters.`,
      );
  }
  return [...new Set(value as string[])];
}

/** The models every list allows; null when none of them limits anything. */
export function intersectModels(...levels: AllowedModels[]): string[] | null {
  let effective: string[] | null = null;
  for (const level of levels) {
    if (level === null) continue;
    effective =
      effective === null ? [...level] : effective.filter((model) => level.includes(model));
  }
  return effective;
}

/**
 * Refuses a list that names models a level above does not allow (`within` is that level's
 * name in the message: "the tenant", "the user"). The intersection would make such entries
 * dead anyway; refusing them tells the admin at once instead of leaving a key that silently
 * cannot use a model it lists.
 */
export function checkWithin(
  requested: AllowedModels,
  allowed: AllowedModels,
  within: string,
): void {
  if (requested === null || allowed === null) return;
  const outside = requested.filter((model) => !allowed.includes(model));
  if (outside.length > 0)
    throw invalid(
      `allowed_models names models ${within} may not use: ${outside.map((m) => `'${m}'`).join(', ')}. ${within[0]?.toUpperCase()}${within.slice(1)} may use ${allowed.map((m) => `'${m}'`).join(', ')}.`,
    );
}
