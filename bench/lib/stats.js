/**
 * Small statistics helper for the benchmarks (no library): percentiles by linear interpolation
 * between closest ranks (the same definition as numpy's default), mean, and the min/median/max
 * summary every figure is reported with.
 */

/** @param {number[]} values */
export function sorted(values) {
  return Float64Array.from(values).sort();
}

/**
 * p-th percentile (0..100) of `values`, linear interpolation between closest ranks.
 * @param {number[] | Float64Array} values
 * @param {number} p
 * @param {boolean} [isSorted]
 */
export function percentile(values, p, isSorted = false) {
  if (values.length === 0) return Number.NaN;
  const s = isSorted ? values : sorted(/** @type {number[]} */ (Array.from(values)));
  if (s.length === 1) return s[0];
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

/** @param {ArrayLike<number>} values */
export function mean(values) {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

/** @param {number[]} values */
export function median(values) {
  return percentile(values, 50);
}

/**
 * min / median / max of per-run values (what every reported figure is).
 * @param {number[]} values
 */
export function summary(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { min: null, median: null, max: null, n: 0 };
  const s = sorted(finite);
  return { min: s[0], median: percentile(s, 50, true), max: s[s.length - 1], n: s.length };
}

/**
 * Latency distribution of one run.
 * @param {ArrayLike<number>} values
 */
export function distribution(values) {
  const s = sorted(Array.from(values));
  return {
    n: s.length,
    mean: mean(s),
    p50: percentile(s, 50, true),
    p99: percentile(s, 99, true),
    max: s.length ? s[s.length - 1] : Number.NaN,
  };
}

/** Round for display: 3 significant digits, no exponent for ordinary ranges. */
export function fmt(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  const a = Math.abs(value);
  if (a >= 1000) return Math.round(value).toLocaleString('en-US');
  if (a >= 100) return value.toFixed(0);
  if (a >= 10) return value.toFixed(1);
  if (a >= 1) return value.toFixed(2);
  if (a === 0) return '0';
  return value.toPrecision(3);
}
