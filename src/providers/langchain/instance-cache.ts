/**
 * A small LRU of built LangChain objects. Building one per request is too slow (and some
 * build SDK clients), but the key or a per-request constructor option can differ per call.
 */
export class InstanceCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly limit: number) {}

  get(key: string, build: () => T): T {
    const found = this.entries.get(key);
    if (found !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry as the most recent.
      this.entries.delete(key);
      this.entries.set(key, found);
      return found;
    }
    const built = build();
    this.entries.set(key, built);
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return built;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
