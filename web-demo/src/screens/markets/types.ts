// Shapes the Markets screen passes around, taken from the generated operation types.

import type { LiveInsightsResult } from '../../generated/operations';

export type InsightFieldsResult = LiveInsightsResult['insights'];

/** Kinds that mark an event on the chart (the per-minute indicator snapshot does not). */
export function isSignal(insight: InsightFieldsResult): boolean {
  return insight.kind !== 'INDICATORS';
}

export function kindLabel(kind: string): string {
  return kind.toLowerCase().replaceAll('_', ' ');
}
