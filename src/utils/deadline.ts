/** A dependency did not answer within its deadline. */
export class DeadlineExceeded extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'DeadlineExceeded';
  }
}

/**
 * Settles as `work` does, or rejects with DeadlineExceeded if it has not settled `ms` after
 * the call. A busy event loop is not the dependency's delay: when the timer fires, an answer
 * that arrived in the meantime (waiting in its socket) is read first, in this turn of the
 * loop's I/O phase, before the deadline is judged in the check phase that follows it.
 */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(new DeadlineExceeded(ms));
        }),
      ms,
    );
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
