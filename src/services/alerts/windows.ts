/** Sums over a rolling window, kept in a few buckets so old values leave a bucket at a time. */
export class RollingSum {
  private readonly buckets = new Map<number, number>();

  constructor(
    private readonly windowMs: number,
    private readonly bucketMs: number = windowMs / 6,
  ) {}

  add(at: number, value: number): void {
    const bucket = Math.floor(at / this.bucketMs);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + value);
  }

  /** What was added in the window ending at `now`. */
  sum(now: number): number {
    this.prune(now);
    let total = 0;
    for (const value of this.buckets.values()) total += value;
    return total;
  }

  /** What was added between `from` (inclusive) and `to` (exclusive), to a bucket's precision. */
  between(from: number, to: number): number {
    let total = 0;
    for (const [bucket, value] of this.buckets) {
      const at = bucket * this.bucketMs;
      if (at >= from && at < to) total += value;
    }
    return total;
  }

  private prune(now: number): void {
    const oldest = Math.floor((now - this.windowMs) / this.bucketMs) + 1;
    for (const bucket of this.buckets.keys()) if (bucket < oldest) this.buckets.delete(bucket);
  }
}

/** The p-th percentile (0..100) of values, nearest rank; null for none. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}

/** The middle value; null for none. */
export function median(values: number[]): number | null {
  return percentile(values, 50);
}
