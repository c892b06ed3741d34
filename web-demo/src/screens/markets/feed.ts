// An insights feed: newest first, signals only (the per-minute indicator snapshots feed the
// chart, not the reader). Each item names its symbol; choosing it puts the symbol on the chart.

import { format, h, replaceChildren } from '../../dom';
import type { InsightLog, Observable } from './state';
import { isSignal, kindLabel } from './types';

const SHOWN = 50;

export function feedList(id: string, label: string, log: InsightLog, selected: Observable<string>, empty: string): HTMLElement {
  const list = h('ol', { class: 'feed', id, 'aria-label': label });
  const render = () => {
    const items = log.newestFirst().filter(isSignal).slice(0, SHOWN);
    list.dataset.count = String(items.length);
    if (items.length === 0) {
      replaceChildren(list, h('li', { class: 'muted empty' }, empty));
      return;
    }
    replaceChildren(list, ...items.map((i) => {
      const pick = h('button', { type: 'button', class: 'link-button' }, i.symbol);
      pick.addEventListener('click', () => selected.set(i.symbol));
      return h('li', { 'data-id': i.id, class: `severity-${i.severity}` },
        h('div', { class: 'feed-head' }, pick, h('span', { class: 'kind' }, kindLabel(i.kind)),
          h('time', { datetime: i.ts }, format.time(i.ts))),
        h('p', {}, i.message));
    }));
  };
  log.watch(render);
  render();
  return list;
}
