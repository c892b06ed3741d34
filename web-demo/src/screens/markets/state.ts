// What the parts of the Markets screen share: the symbol on the chart, the user's watchlist,
// and the insights seen (by id, so a replay after a reconnect adds only what was missed).

import type { InsightFieldsResult } from './types';

export class Observable<T> {
  private listeners: ((value: T) => void)[] = [];
  constructor(private current: T) {}
  get value(): T {
    return this.current;
  }
  set(value: T): void {
    this.current = value;
    for (const listener of this.listeners) listener(value);
  }
  watch(listener: (value: T) => void): void {
    this.listeners.push(listener);
    listener(this.current);
  }
}

/** Insights newest first, each once, at most `limit`. */
export class InsightLog {
  private byId = new Map<string, InsightFieldsResult>();
  private listeners: ((added: InsightFieldsResult[]) => void)[] = [];
  constructor(private readonly limit = 200) {}

  /** Adds the insights not seen yet; returns how many there were. */
  add(insights: InsightFieldsResult[]): number {
    const added = insights.filter((i) => !this.byId.has(i.id));
    if (added.length === 0) return 0;
    for (const insight of added) this.byId.set(insight.id, insight);
    if (this.byId.size > this.limit) {
      for (const old of this.newestFirst().slice(this.limit)) this.byId.delete(old.id);
    }
    for (const listener of this.listeners) listener(added);
    return added.length;
  }

  newestFirst(): InsightFieldsResult[] {
    return [...this.byId.values()].sort((a, b) => (a.ts < b.ts ? 1 : a.ts > b.ts ? -1 : b.id.localeCompare(a.id)));
  }

  /** Market time of the newest insight seen. */
  newest(): string | null {
    return this.newestFirst()[0]?.ts ?? null;
  }

  watch(listener: (added: InsightFieldsResult[]) => void): void {
    this.listeners.push(listener);
  }
}
