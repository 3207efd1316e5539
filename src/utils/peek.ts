/**
 * Reads the first item of a sequence and hands back the whole sequence again, that item
 * included: the caller decides by it (retry a stream that failed before its first chunk,
 * pick a format) before anything goes on. Closing what it hands back closes the source.
 */
export async function peekFirst<T>(
  items: AsyncIterable<T> | Iterable<T>,
): Promise<{ first: IteratorResult<T>; all: AsyncGenerator<T> }> {
  const iterator =
    Symbol.asyncIterator in items
      ? items[Symbol.asyncIterator]()
      : (items as Iterable<T>)[Symbol.iterator]();
  const first = await iterator.next();
  const all = (async function* () {
    try {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await iterator.return?.();
    }
  })();
  return { first, all };
}
