// Shapes the Markets screen passes around, taken from the generated operation types.

import type { LiveInsightsResult } from '../../generated/operations';

export type InsightFieldsResult = LiveInsightsResult['insights'];

/** Kinds that mark an event on the chart (the per-minute indicator snapshot does not). */
export function isSignal(insight: InsightFieldsResult): boolean {
  return insight.kind !== 'INDICATORS';
}

const ACRONYMS = new Set(['MA', 'MACD', 'RSI']);

/** `MACD_BULLISH_CROSS` → `MACD bullish cross`. */
export function kindLabel(kind: string): string {
  const words = kind.split('_').map((w) => (ACRONYMS.has(w) ? w : w.toLowerCase()));
  const first = words[0] ?? '';
  words[0] = ACRONYMS.has(first) ? first : first.charAt(0).toUpperCase() + first.slice(1);
  return words.join(' ');
}
