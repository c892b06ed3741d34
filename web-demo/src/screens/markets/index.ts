// The Markets screen: symbol picker and chart, quote board, insights feed, watchlist and AI
// tools, all live.

import { h } from '../../dom';
import { InsightsSince, LiveInsights, Symbols } from '../../generated/operations';
import type { Screen, ScreenContext } from '../registry';
import { aiPanel } from './ai';
import { chartPanel } from './chart';
import { feedList } from './feed';
import { quoteBoard } from './quotes';
import { InsightLog, Observable } from './state';
import { watchlistPanel } from './watchlist';

const SYMBOL_KEY = 'finpulse.symbol';

function picker(symbols: string[], selected: Observable<string>): HTMLElement {
  const input = h('input', { id: 'symbol-search', type: 'search', list: 'symbol-list', autocomplete: 'off', placeholder: 'Search symbols' });
  const message = h('span', { class: 'muted', 'aria-live': 'polite' });
  const form = h('form', { class: 'inline picker', role: 'search' },
    h('label', { for: 'symbol-search' }, 'Symbol'), input,
    h('datalist', { id: 'symbol-list' }, ...symbols.map((s) => h('option', { value: s }))),
    h('button', { type: 'submit' }, 'Show'), message);
  const choose = () => {
    const query = input.value.trim().toUpperCase();
    const match = symbols.find((s) => s === query) ?? symbols.find((s) => s.startsWith(query));
    if (!query) return;
    if (match) {
      selected.set(match);
      input.value = '';
      message.textContent = '';
    } else {
      message.textContent = `No symbol matches ${query}`;
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    choose();
  });
  input.addEventListener('change', () => {
    if (symbols.includes(input.value.trim().toUpperCase())) choose();
  });
  return form;
}

/**
 * The symbols with market data. A server that just started stores its first symbols one by
 * one: wait until there are some and their number has stopped growing for a second.
 */
async function firstSymbols(api: ScreenContext['api'], root: HTMLElement, stopped: () => boolean): Promise<string[]> {
  let previous: string[] = [];
  for (;;) {
    const { symbols } = await api.request(Symbols, {});
    // Unmounted meanwhile: `root` belongs to the next screen now; leave it alone.
    if (stopped()) return [];
    if (symbols.length > 0 && symbols.length === previous.length) {
      root.replaceChildren();
      return symbols;
    }
    previous = symbols;
    if (!root.querySelector('.waiting')) {
      root.append(h('p', { class: 'muted waiting' }, 'Waiting for market data (the simulator or a replay)…'));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

async function mount(root: HTMLElement, { api, session }: ScreenContext, stops: (() => void)[], stopped: () => boolean): Promise<void> {
  const symbols = await firstSymbols(api, root, stopped);
  if (stopped()) return;
  const remembered = localStorage.getItem(SYMBOL_KEY);
  const selected = new Observable(remembered && symbols.includes(remembered) ? remembered : symbols[0]!);
  selected.watch((s) => localStorage.setItem(SYMBOL_KEY, s));
  const watchlist = new Observable<Set<string> | null>(null);
  const insights = new InsightLog(300);

  const watch = watchlistPanel(api, session.user !== null, symbols, selected, watchlist);
  const chart = chartPanel(api, selected, insights);
  const board = quoteBoard(api, symbols, selected, watchlist, watch.toggle);
  const feed = h('section', { class: 'panel', 'aria-labelledby': 'feed-title' },
    h('h2', { id: 'feed-title' }, 'Insights'),
    feedList('insights-feed', 'Latest insights of all symbols', insights, selected, 'Signals appear here as the market moves.'));

  root.append(h('div', { class: 'markets' },
    h('div', { class: 'area-main' }, picker(symbols, selected), chart.element),
    h('div', { class: 'area-board' }, board.element),
    h('div', { class: 'area-side' }, feed, watch.element, aiPanel(api))));

  stops.push(chart.stop, board.stop, watch.stop);
  stops.push(api.subscribe(LiveInsights, {}, ({ insights: i }) => insights.add([i])));
  // Back after a drop: read what was stored while the socket was away. How many insights that
  // brought back is kept on the screen's element for the browser tests.
  let caughtUp = 0;
  stops.push(api.onReconnect(() => {
    const since = insights.newest();
    if (!since) return;
    void api.request(InsightsSince, { since }).then(({ insightsSince }) => {
      caughtUp += insights.add(insightsSince);
      root.dataset.caughtUp = String(caughtUp);
    }, (e) => console.info('catching up on insights failed:', String(e)));
  }));
}

export const markets: Screen = {
  id: 'markets',
  title: 'Markets',
  mount(root, context) {
    const stops: (() => void)[] = [];
    let stopped = false;
    void mount(root, context, stops, () => stopped).then(() => {
      if (stopped) stops.forEach((stop) => stop());
    }, (error) => {
      root.append(h('p', { class: 'error', role: 'alert' }, `The market could not be loaded: ${String(error.message ?? error)}`));
    });
    return () => {
      stopped = true;
      stops.forEach((stop) => stop());
    };
  },
};
