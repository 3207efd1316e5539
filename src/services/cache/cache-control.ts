/** What a request's `cache-control` header asks of the response cache. */
export interface CacheDirectives {
  /** `no-store`: neither read nor write. */
  noStore: boolean;
  /** `no-cache`: do not answer from the cache, but store the fresh answer. */
  noCache: boolean;
  /** `max-age=N`: the new entry's lifetime in seconds (clamped to the maximum). */
  maxAge: number | null;
}

/** Reads the directives; unknown ones and malformed values are ignored, as HTTP caches do. */
export function cacheDirectives(header: string | string[] | undefined): CacheDirectives {
  const directives: CacheDirectives = { noStore: false, noCache: false, maxAge: null };
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  for (const part of text.split(',')) {
    const [name = '', value] = part.trim().toLowerCase().split('=', 2);
    if (name === 'no-store') directives.noStore = true;
    else if (name === 'no-cache') directives.noCache = true;
    else if (name === 'max-age' && value !== undefined && /^\d{1,10}$/.test(value.trim()))
      directives.maxAge = Number(value.trim());
  }
  return directives;
}
