// Chart overlays computed from the candles on screen: simple and exponential moving averages
// and Bollinger bands (20 bars, 2 standard deviations, population deviation as in TA-Lib).
// Each returns one value per input bar, `null` until enough bars have been seen.

export function sma(values: number[], period: number): (number | null)[] {
  const out: (number | null)[] = [];
  let sum = 0;
  values.forEach((value, i) => {
    sum += value;
    if (i >= period) sum -= values[i - period]!;
    out.push(i >= period - 1 ? sum / period : null);
  });
  return out;
}

/** Seeded with the SMA of the first `period` values, as TA-Lib does. */
export function ema(values: number[], period: number): (number | null)[] {
  const k = 2 / (period + 1);
  const out: (number | null)[] = [];
  let previous: number | null = null;
  values.forEach((value, i) => {
    if (i < period - 1) {
      out.push(null);
      return;
    }
    previous =
      previous === null
        ? values.slice(0, period).reduce((a, b) => a + b, 0) / period
        : value * k + previous * (1 - k);
    out.push(previous);
  });
  return out;
}

export interface Band {
  upper: number;
  middle: number;
  lower: number;
}

export function bollinger(values: number[], period = 20, width = 2): (Band | null)[] {
  return values.map((_, i) => {
    if (i < period - 1) return null;
    const window = values.slice(i - period + 1, i + 1);
    const mean = window.reduce((a, b) => a + b, 0) / period;
    const variance = window.reduce((a, b) => a + (b - mean) ** 2, 0) / period;
    const deviation = Math.sqrt(variance);
    return { upper: mean + width * deviation, middle: mean, lower: mean - width * deviation };
  });
}
