/** Small, dependency-free statistics for the benchmark: sorted-array percentiles and run-to-run spread. */

export type LatencySummary = { count: number; p50: number; p99: number; max: number; mean: number };

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(samples: readonly number[] | Float64Array): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length ? sorted[sorted.length - 1]! : Number.NaN),
    mean: round(sorted.length ? sum / sorted.length : Number.NaN),
  };
}

/** How far two runs of one cell differ, as a fraction of their mean (0.05 = 5 %). */
export function spread(a: number, b: number): number {
  const mean = (a + b) / 2;
  if (!Number.isFinite(mean) || mean === 0) return a === b ? 0 : Number.NaN;
  return round(Math.abs(a - b) / mean, 3);
}

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Growable float buffer for latency samples (avoids huge arrays of boxed numbers). */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = value;
  }
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** High-resolution wall clock in milliseconds, comparable across processes on one machine. */
export const wallNow = (): number => performance.timeOrigin + performance.now();
