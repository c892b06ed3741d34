// The traffic chart: each variant's share of the lists shown per time bucket, one line per
// variant, as an SVG (a few dozen points: no charting library needed). In bandit mode it is
// the picture of the bandit at work: the better strategy's line climbs, the others fall.

import { h } from '../../dom';
import type { LiveExperimentResultsResult } from '../../generated/operations';

type Results = LiveExperimentResultsResult['experimentResults'];

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 640;
const HEIGHT = 200;
const PAD = { left: 40, right: 12, top: 10, bottom: 24 };
const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' });

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

export function trafficChart(results: Results): HTMLElement | SVGElement {
  const buckets = [...new Set(results.traffic.map((t) => t.from))].sort();
  if (buckets.length === 0) return h('p', { class: 'muted', id: 'traffic-empty' }, 'No lists shown yet.');
  const first = Date.parse(buckets[0]!);
  const last = Date.parse(buckets[buckets.length - 1]!);
  const span = Math.max(last - first, 1);
  const x = (iso: string) => PAD.left + ((Date.parse(iso) - first) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (share: number) => PAD.top + (1 - share) * (HEIGHT - PAD.top - PAD.bottom);
  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', class: 'traffic-chart' });
  const names = results.variants.map((v) => v.name);
  chart.setAttribute('aria-label', `Traffic share over time of ${names.join(', ')}`);
  for (const share of [0, 0.5, 1]) {
    chart.append(svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(share), y2: y(share), class: 'grid' }));
    const label = svg('text', { x: PAD.left - 6, y: y(share) + 4, 'text-anchor': 'end', class: 'axis' });
    label.textContent = `${share * 100} %`;
    chart.append(label);
  }
  for (const [position, iso] of [[0, buckets[0]!], [1, buckets[buckets.length - 1]!]] as const) {
    const label = svg('text', { x: x(iso), y: HEIGHT - 6, 'text-anchor': position ? 'end' : 'start', class: 'axis' });
    label.textContent = `${clock.format(new Date(iso))} UTC`;
    chart.append(label);
  }
  names.forEach((name, index) => {
    // A bucket without lists of this variant is a share of 0, not a gap.
    const points = buckets.map((from) => {
      const cell = results.traffic.find((t) => t.from === from && t.variant === name);
      return `${x(from).toFixed(1)},${y(cell?.share ?? 0).toFixed(1)}`;
    });
    const line = svg('polyline', { points: points.join(' '), class: `series series-${index % 6}`, 'data-variant': name, fill: 'none' });
    const title = svg('title', {});
    title.textContent = name;
    line.append(title);
    chart.append(line);
  });
  const legend = h('ul', { class: 'legend' }, ...names.map((name, index) =>
    h('li', {}, h('span', { class: `swatch series-${index % 6}` }), ` ${name}`)));
  const figure = h('div', { class: 'traffic-body' });
  figure.append(chart, legend);
  return figure;
}
