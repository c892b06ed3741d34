// The candlestick chart of one symbol: one-minute candles with volume, SMA 20, EMA 50 and
// Bollinger (20, 2) overlays, and the symbol's signals as markers. Live candles come from the
// `candles` subscription; after a reconnect the history is read again.

import {
  CandlestickSeries, HistogramSeries, LineSeries, createChart, createSeriesMarkers,
  type CandlestickData, type IChartApi, type LineData, type SeriesMarker, type Time, type UTCTimestamp,
} from 'lightweight-charts';
import type { Api } from '../../api';
import { h } from '../../dom';
import { Candles, LiveCandles, RecentInsights } from '../../generated/operations';
import { bollinger, ema, sma } from '../../indicators';
import { onTheme, themeColor } from '../../theme';
import type { InsightLog, Observable } from './state';
import { isSignal, kindLabel } from './types';

const HISTORY = 300;

interface Bar {
  time: UTCTimestamp;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

const toTime = (iso: string) => Math.floor(Date.parse(iso) / 1000) as UTCTimestamp;

export function chartPanel(api: Api, symbol: Observable<string>, insights: InsightLog): { element: HTMLElement; stop: () => void } {
  const canvasHost = h('div', { class: 'chart', id: 'chart' });
  const overlays = { sma: true, ema: true, bollinger: false };
  const toggles = h('fieldset', { class: 'overlays' }, h('legend', {}, 'Overlays'),
    ...(['sma', 'ema', 'bollinger'] as const).map((key) => {
      const id = `overlay-${key}`;
      const input = h('input', { type: 'checkbox', id, checked: overlays[key] });
      input.addEventListener('change', () => {
        overlays[key] = input.checked;
        redrawOverlays();
      });
      return h('label', { for: id }, input, { sma: ' SMA 20', ema: ' EMA 50', bollinger: ' Bollinger 20, 2' }[key]);
    }));
  const title = h('h2', { id: 'chart-title' }, '');
  // The canvas says nothing to a screen reader: the quote board and the feed carry the same
  // facts as text.
  // The library's attribution, as its NOTICE asks, as text: its own logo is a <style> element
  // the dashboard's Content-Security-Policy (no inline style) would block.
  const attribution = h('p', { class: 'muted attribution' }, 'Chart: ',
    h('a', { href: 'https://www.tradingview.com/', rel: 'noopener noreferrer' }, 'TradingView Lightweight Charts™'));
  const element = h('section', { class: 'panel chart-panel', 'aria-labelledby': 'chart-title' }, title, canvasHost, toggles, attribution);

  const chart: IChartApi = createChart(canvasHost, {
    autoSize: true,
    layout: { attributionLogo: false },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const candles = chart.addSeries(CandlestickSeries, {});
  const volume = chart.addSeries(HistogramSeries, { priceScaleId: 'volume', priceFormat: { type: 'volume' }, lastValueVisible: false, priceLineVisible: false });
  chart.priceScale('volume').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  const line = () => chart.addSeries(LineSeries, { lineWidth: 1, lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false });
  const smaLine = line();
  const emaLine = line();
  const upper = line();
  const lower = line();
  const markers = createSeriesMarkers(candles, []);

  const paint = () => {
    const up = themeColor('--up');
    const down = themeColor('--down');
    chart.applyOptions({
      layout: { background: { color: themeColor('--panel') }, textColor: themeColor('--text') },
      grid: { vertLines: { color: themeColor('--grid') }, horzLines: { color: themeColor('--grid') } },
    });
    candles.applyOptions({ upColor: up, downColor: down, wickUpColor: up, wickDownColor: down, borderVisible: false });
    smaLine.applyOptions({ color: themeColor('--sma') });
    emaLine.applyOptions({ color: themeColor('--ema') });
    upper.applyOptions({ color: themeColor('--band') });
    lower.applyOptions({ color: themeColor('--band') });
    volume.setData(bars.map(volumeBar));
  };

  let bars: Bar[] = [];
  let updates = 0;
  const volumeBar = (b: Bar) => ({
    time: b.time, value: b.volume,
    color: b.close >= b.open ? themeColor('--up-faint') : themeColor('--down-faint'),
  });

  function series(values: (number | null)[]): LineData<Time>[] {
    return values.flatMap((value, i) => (value === null ? [] : [{ time: bars[i]!.time, value }]));
  }

  function redrawOverlays(): void {
    const closes = bars.map((b) => b.close);
    smaLine.setData(overlays.sma ? series(sma(closes, 20)) : []);
    emaLine.setData(overlays.ema ? series(ema(closes, 50)) : []);
    const bands = overlays.bollinger ? bollinger(closes) : [];
    upper.setData(series(bands.map((b) => b?.upper ?? null)));
    lower.setData(series(bands.map((b) => b?.lower ?? null)));
  }

  function redrawMarkers(): void {
    const times = new Set(bars.map((b) => b.time));
    const list: SeriesMarker<Time>[] = insights
      .newestFirst()
      .filter((i) => i.symbol === symbol.value && isSignal(i))
      .map((i) => {
        // A signal is raised on the close of a bar: mark the bar that closed.
        const time = (toTime(i.ts) - 60) as UTCTimestamp;
        const bullish = /BULLISH|OVERSOLD|UP$/.test(i.kind);
        // On a narrow chart the arrows alone: their labels would cover the candles.
        const text = canvasHost.clientWidth >= 600 ? kindLabel(i.kind) : '';
        return { time, position: bullish ? 'belowBar' : 'aboveBar', shape: bullish ? 'arrowUp' : 'arrowDown', color: bullish ? themeColor('--up') : themeColor('--down'), text } as SeriesMarker<Time>;
      })
      .filter((m) => times.has(m.time as UTCTimestamp))
      .sort((a, b) => (a.time as number) - (b.time as number));
    markers.setMarkers(list);
    canvasHost.dataset.markers = String(list.length);
  }

  function record(): void {
    canvasHost.dataset.bars = String(bars.length);
    canvasHost.dataset.updates = String(updates);
    const last = bars[bars.length - 1];
    if (last) canvasHost.dataset.lastClose = String(last.close);
  }

  let stopLive: (() => void) | null = null;
  let generation = 0;

  async function load(): Promise<void> {
    const mine = ++generation;
    const name = symbol.value;
    title.textContent = `${name} · 1 minute`;
    const [history, recent] = await Promise.all([
      api.request(Candles, { symbol: name, limit: HISTORY }),
      api.request(RecentInsights, { symbol: name, last: 100 }),
    ]);
    if (mine !== generation) return;
    bars = history.candles.map((c) => ({ time: toTime(c.start), open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume }));
    candles.setData(bars as CandlestickData<Time>[]);
    volume.setData(bars.map(volumeBar));
    redrawOverlays();
    insights.add(recent.insights);
    redrawMarkers();
    chart.timeScale().scrollToRealTime();
    record();
  }

  function follow(): void {
    stopLive?.();
    const name = symbol.value;
    stopLive = api.subscribe(LiveCandles, { symbol: name }, ({ candles: c }) => {
      if (c.symbol !== symbol.value) return;
      const bar: Bar = { time: toTime(c.start), open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume };
      const last = bars[bars.length - 1];
      if (last && bar.time < last.time) return;
      if (last && bar.time === last.time) bars[bars.length - 1] = bar;
      else bars.push(bar);
      if (bars.length > HISTORY * 2) bars = bars.slice(-HISTORY);
      candles.update(bar as CandlestickData<Time>);
      volume.update(volumeBar(bar));
      redrawOverlays();
      updates += 1;
      record();
    });
  }

  symbol.watch(() => {
    follow();
    void load().catch((e) => console.info('chart load failed:', String(e)));
  });
  insights.watch((added) => {
    if (added.some((i) => i.symbol === symbol.value && isSignal(i))) redrawMarkers();
  });
  const stopReconnect = api.onReconnect(() => void load().catch((e) => console.info('chart reload failed:', String(e))));
  const stopTheme = onTheme(paint);
  paint();

  return {
    element,
    stop: () => {
      stopLive?.();
      stopReconnect();
      stopTheme();
      chart.remove();
    },
  };
}
