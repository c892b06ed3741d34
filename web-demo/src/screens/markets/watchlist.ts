// The signed-in user's watchlist: its symbols (add by name, remove), kept by the server and
// followed live (`watchlistInsights`) with a feed of its own.

import { ApiError, type Api } from '../../api';
import { h, replaceChildren } from '../../dom';
import { AddToWatchlist, LiveWatchlistInsights, RemoveFromWatchlist, Watchlist } from '../../generated/operations';
import { feedList } from './feed';
import { InsightLog, type Observable } from './state';

export interface WatchlistPart {
  element: HTMLElement;
  toggle: (symbol: string) => void;
  stop: () => void;
}

export function watchlistPanel(
  api: Api,
  signedIn: boolean,
  symbols: string[],
  selected: Observable<string>,
  watchlist: Observable<Set<string> | null>,
): WatchlistPart {
  const message = h('p', { class: 'error', role: 'alert' });
  const list = h('ul', { class: 'chips', id: 'watchlist', 'aria-label': 'Watched symbols' });
  const insights = new InsightLog(100);
  const element = h('section', { class: 'panel', 'aria-labelledby': 'watchlist-title' }, h('h2', { id: 'watchlist-title' }, 'Watchlist'));
  if (!signedIn) {
    element.append(h('p', { class: 'muted' }, 'Pick a user at the top right to keep a watchlist.'));
    watchlist.set(null);
    return { element, toggle: () => {}, stop: () => {} };
  }

  const apply = (next: string[]) => {
    watchlist.set(new Set(next));
    message.textContent = '';
  };
  const fail = (error: unknown) => {
    message.textContent = error instanceof ApiError ? error.message : 'The watchlist could not be changed; try again.';
  };
  const change = async (symbol: string, add: boolean) => {
    try {
      apply(add
        ? (await api.request(AddToWatchlist, { symbol })).addToWatchlist
        : (await api.request(RemoveFromWatchlist, { symbol })).removeFromWatchlist);
    } catch (error) {
      fail(error);
    }
  };
  const toggle = (symbol: string) => void change(symbol, !(watchlist.value?.has(symbol) ?? false));

  const input = h('input', { id: 'watch-symbol', list: 'watch-symbols', autocomplete: 'off', placeholder: 'Symbol', maxlength: 32 });
  const form = h('form', { class: 'inline' },
    h('label', { for: 'watch-symbol', class: 'visually-hidden' }, 'Symbol to watch'),
    input, h('datalist', { id: 'watch-symbols' }, ...symbols.map((s) => h('option', { value: s }))),
    h('button', { type: 'submit' }, 'Watch'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const symbol = input.value.trim().toUpperCase();
    if (!symbol) return;
    input.value = '';
    void change(symbol, true);
  });

  watchlist.watch((set) => {
    if (!set) return;
    if (set.size === 0) {
      replaceChildren(list, h('li', { class: 'muted' }, 'Nothing watched yet: star a symbol or add it here.'));
      return;
    }
    replaceChildren(list, ...[...set].map((symbol) => {
      const remove = h('button', { type: 'button', class: 'ghost', 'aria-label': `Stop watching ${symbol}` }, '×');
      remove.addEventListener('click', () => void change(symbol, false));
      const pick = h('button', { type: 'button', class: 'link-button' }, symbol);
      pick.addEventListener('click', () => selected.set(symbol));
      return h('li', { 'data-symbol': symbol }, pick, remove);
    }));
  });

  element.append(form, message, list, h('h3', {}, 'Watchlist insights'),
    feedList('watchlist-feed', 'Insights of watched symbols', insights, selected, 'Signals of watched symbols appear here.'));

  const load = () => api.request(Watchlist, {}).then(({ watchlist: w }) => apply(w), fail);
  void load();
  const stopLive = api.subscribe(LiveWatchlistInsights, {}, ({ watchlistInsights }) => insights.add([watchlistInsights]));
  const stopReconnect = api.onReconnect(() => void load());
  return { element, toggle, stop: () => { stopLive(); stopReconnect(); } };
}
