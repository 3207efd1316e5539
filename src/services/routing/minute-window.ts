const BUCKETS = 60;
const BUCKET_MS = 1000;

/** A sliding sum over the last minute, in one-second buckets: what a deployment took. */
export class MinuteWindow {
  private readonly counts = new Float64Array(BUCKETS);
  private readonly stamps = new Float64Array(BUCKETS).fill(-1);

  add(now: number, amount: number): void {
    const second = Math.floor(now / BUCKET_MS);
    const slot = second % BUCKETS;
    if (this.stamps[slot] !== second) {
      this.stamps[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot] = (this.counts[slot] ?? 0) + amount;
  }

  total(now: number): number {
    const oldest = Math.floor(now / BUCKET_MS) - BUCKETS + 1;
    let sum = 0;
    for (let slot = 0; slot < BUCKETS; slot++) {
      if ((this.stamps[slot] ?? -1) >= oldest) sum += this.counts[slot] ?? 0;
    }
    return sum;
  }
}
