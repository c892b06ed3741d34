// The quote board: every symbol's last price, day change and a sparkline of its last hour,
// updated by the `ticks` subscription. Choosing a row puts the symbol on the chart; the star
// adds it to or removes it from the watchlist.

import type { Api } from '../../api';
import { format, h, replaceChildren } from '../../dom';
import { Candles, LiveTicks, Quotes } from '../../generated/operations';
import type { Observable } from './state';

const SPARK_POINTS = 60;

interface Row {
  price: number;
  dayOpen: number;
  closes: number[];
  lastMinute: number;
  element: HTMLTableRowElement;
  last: HTMLTableCellElement;
  day: HTMLTableCellElement;
  spark: HTMLTableCellElement;
  star: HTMLButtonElement;
}

function sparkline(closes: number[]): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 100 24');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('aria-hidden', 'true');
  if (closes.length > 1) {
    const min = Math.min(...closes);
    const max = Math.max(...closes);
    const span = max - min || 1;
    const points = closes.map((c, i) => `${((i / (closes.length - 1)) * 100).toFixed(1)},${(22 - ((c - min) / span) * 20).toFixed(1)}`);
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    path.setAttribute('points', points.join(' '));
    path.setAttribute('class', closes[closes.length - 1]! >= closes[0]! ? 'up' : 'down');
    svg.appendChild(path);
  }
  return svg;
}

export function quoteBoard(
  api: Api,
  symbols: string[],
  selected: Observable<string>,
  watchlist: Observable<Set<string> | null>,
  toggleWatch: (symbol: string) => void,
): { element: HTMLElement; stop: () => void } {
  const body = h('tbody');
  const table = h('table', { class: 'quotes', id: 'quote-board' },
    h('caption', { class: 'visually-hidden' }, 'Quotes'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Symbol'), h('th', { scope: 'col', class: 'num' }, 'Last'),
      h('th', { scope: 'col', class: 'num' }, 'Day'), h('th', { scope: 'col', class: 'spark-col' }, 'Last hour'),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Watchlist')))),
    body);
  const element = h('section', { class: 'panel', 'aria-labelledby': 'quotes-title' }, h('h2', { id: 'quotes-title' }, 'Quote board'), h('div', { class: 'scroll' }, table));
  const rows = new Map<string, Row>();

  // Cells are built once and updated in place, so a focused button keeps its focus as ticks
  // arrive.
  function build(symbol: string): Omit<Row, 'price' | 'dayOpen' | 'closes' | 'lastMinute'> {
    const star = h('button', { type: 'button', class: 'star' });
    star.addEventListener('click', () => toggleWatch(symbol));
    const pick = h('button', { type: 'button', class: 'link-button', 'aria-label': `Chart ${symbol}` }, symbol);
    pick.addEventListener('click', () => selected.set(symbol));
    const [last, day, spark] = [h('td', { class: 'num' }), h('td', { class: 'num' }), h('td', { class: 'spark-col' })];
    const element = h('tr', { 'data-symbol': symbol }, h('th', { scope: 'row' }, pick), last, day, spark, h('td', {}, star));
    return { element, last, day, spark, star };
  }

  function render(symbol: string): void {
    const row = rows.get(symbol);
    if (!row) return;
    const change = row.dayOpen > 0 ? (row.price / row.dayOpen - 1) * 100 : 0;
    row.last.textContent = format.price(row.price);
    row.last.dataset.price = String(row.price);
    row.day.textContent = format.percent(change);
    row.day.className = `num ${change >= 0 ? 'up' : 'down'}`;
    replaceChildren(row.spark, sparkline(row.closes));
    const signedIn = watchlist.value !== null;
    const watched = watchlist.value?.has(symbol) ?? false;
    row.star.textContent = watched ? '★' : '☆';
    row.star.disabled = !signedIn;
    row.star.setAttribute('aria-pressed', String(watched));
    row.star.setAttribute('aria-label', signedIn ? `Watch ${symbol}` : `Watch ${symbol} (sign in first)`);
    row.element.classList.toggle('selected', selected.value === symbol);
  }

  async function load(): Promise<void> {
    const [{ quotes }, ...histories] = await Promise.all([
      api.request(Quotes, { symbols }),
      ...symbols.map((symbol) => api.request(Candles, { symbol, limit: SPARK_POINTS })),
    ]);
    symbols.forEach((symbol, i) => {
      const quote = quotes.find((q) => q.symbol === symbol);
      const closes = histories[i]?.candles.map((c) => c.close) ?? [];
      const existing = rows.get(symbol);
      const cells = existing ?? build(symbol);
      const price = quote?.price ?? closes[closes.length - 1] ?? 0;
      const dayOpen = quote ? quote.price / (1 + quote.changePercent / 100) : price;
      rows.set(symbol, { ...cells, price, dayOpen, closes, lastMinute: Math.floor(Date.now() / 60_000) });
      if (!existing) body.appendChild(cells.element);
      render(symbol);
    });
  }

  void load().catch((e) => console.info('quote board load failed:', String(e)));
  const stopTicks = api.subscribe(LiveTicks, { symbols }, ({ ticks }) => {
    const row = rows.get(ticks.symbol);
    if (!row) return;
    row.price = ticks.price;
    const minute = Math.floor(Date.parse(ticks.ts) / 60_000);
    if (minute !== row.lastMinute || row.closes.length === 0) {
      row.closes.push(ticks.price);
      if (row.closes.length > SPARK_POINTS) row.closes.shift();
      row.lastMinute = minute;
    } else {
      row.closes[row.closes.length - 1] = ticks.price;
    }
    render(ticks.symbol);
  });
  selected.watch(() => symbols.forEach(render));
  watchlist.watch(() => symbols.forEach(render));
  const stopReconnect = api.onReconnect(() => void load().catch((e) => console.info('quote board reload failed:', String(e))));
  return { element, stop: () => { stopTicks(); stopReconnect(); } };
}
