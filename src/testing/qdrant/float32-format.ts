/**
 * The shortest decimal that reads back as the same float32, as Rust's serde
 * (ryu) writes an `f32`. Without it a stored 0.1 would come back as
 * 0.10000000149011612 instead of 0.1, unlike real Qdrant.
 */
export function float32ToJsonNumber(value: number): number {
  if (value === 0 || !Number.isFinite(value)) return value === 0 ? 0 : value;
  for (let digits = 1; digits <= 9; digits += 1) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

export function float32ArrayToJson(values: Float32Array): number[] {
  return Array.from(values, float32ToJsonNumber);
}
