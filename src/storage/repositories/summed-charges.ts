/** The four parts of a charge as a grouped query sums them (`sum()` comes back as text). */
export interface SummedChargeColumns {
  charge_input: string;
  charge_cached: string;
  charge_output: string;
  charge_other: string;
}

/** Those sums as the integer micro-units they are. */
export function summedCharges(row: SummedChargeColumns): {
  input: number;
  cached: number;
  output: number;
  other: number;
} {
  return {
    input: Number(row.charge_input),
    cached: Number(row.charge_cached),
    output: Number(row.charge_output),
    other: Number(row.charge_other),
  };
}
