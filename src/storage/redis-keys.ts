/** The hash tag Redis Cluster hashes a key by: the text between its first `{` and the `}` after. */
function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

/**
 * A key in the same cluster slot as `base`, so one MULTI or script may take both: `base`'s
 * own hash tag when it has one, else `base` whole as the tag (`{llmb:usage}:dead` hashes as
 * `llmb:usage` does).
 */
export function keyBeside(base: string, suffix: string): string {
  return hashTag(base) === null ? `{${base}}:${suffix}` : `${base}:${suffix}`;
}
