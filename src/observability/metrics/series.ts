/**
 * The labelled series of each label combination, looked up once: prom-client hashes the label
 * object on every inc() and observe() otherwise. Every label of ours takes a bounded set of
 * values (routes, statuses, configured models, capped tenants, catalogued kinds and codes),
 * and the registry is never reset, so a series once made stays valid.
 */
export function seriesOf<S>(make: (...values: string[]) => S): (...values: string[]) => S {
  const made = new Map<string, S>();
  return (...values) => {
    const key = values.join('\0');
    let series = made.get(key);
    if (series === undefined) {
      series = make(...values);
      made.set(key, series);
    }
    return series;
  };
}
