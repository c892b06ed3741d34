// The "Experiments" screen, for operators (role `admin`): the recommender's experiments, each
// variant's lists shown, click-through and conversion with their 95 % intervals and p-value
// against the control, live; and a chart of the traffic share each variant got over time, which
// in bandit mode shows the bandit moving traffic to the better strategy. Operators define,
// start, stop and archive experiments here too.

import { ApiError } from '../../api';
import { h, replaceChildren } from '../../dom';
import {
  ArchiveExperiment, CreateExperiment, Experiments, LiveExperimentResults, StartExperiment, StopExperiment,
  type LiveExperimentResultsResult,
} from '../../generated/operations';
import type { Screen, ScreenContext } from '../registry';
import { trafficChart } from './chart';

type Results = LiveExperimentResultsResult['experimentResults'];
type Experiment = Results['experiment'];

const percent = (value: number) => `${(value * 100).toFixed(1)} %`;
const interval = (rate: { value: number; low: number; high: number }) =>
  `${percent(rate.value)} (${percent(rate.low)}–${percent(rate.high)})`;

function resultsTable(results: Results): HTMLElement {
  const rows = results.variants.map((variant, index) =>
    h('tr', { 'data-variant': variant.name, 'data-stopped': variant.stopped ? 'true' : null },
      h('th', { scope: 'row' }, variant.name, index === 0 ? h('span', { class: 'muted' }, ' (control)') : null,
        variant.stopped ? h('span', { class: 'badge' }, ' stopped by the guardrail') : null),
      h('td', {}, variant.strategy),
      h('td', { class: 'num', 'data-field': 'impressions' }, String(variant.counts.impressions)),
      h('td', { class: 'num', 'data-field': 'ctr' }, interval(variant.ctr)),
      h('td', { class: 'num', 'data-field': 'conversion' }, interval(variant.conversion)),
      h('td', { class: 'num' }, index === 0 ? '—' : variant.pValue.toFixed(3)),
      h('td', { class: 'num', 'data-field': 'share' }, percent(variant.share))));
  return h('table', { class: 'experiment-results', 'aria-label': 'Results per variant' },
    h('thead', {}, h('tr', {},
      ...['Variant', 'Strategy', 'Lists shown', 'Click-through (95 % CI)', 'Conversion (95 % CI)', 'p vs control', 'Traffic']
        .map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, ...rows));
}

function mount(root: HTMLElement, { api }: ScreenContext): () => void {
  const picker = h('select', { id: 'experiment-picker', 'aria-label': 'Experiment' });
  const actions = h('div', { class: 'actions' });
  const message = h('p', { class: 'error', role: 'alert' });
  const summary = h('p', { class: 'muted', id: 'experiment-summary', 'aria-live': 'polite' });
  const table = h('div', { id: 'experiment-table' });
  const chart = h('figure', { class: 'traffic', id: 'experiment-traffic' });
  const form = createForm(api, (id) => void load(id), (text) => (message.textContent = text));
  root.append(h('section', { class: 'panel experiments' },
    h('h1', {}, 'Experiments'),
    h('div', { class: 'toolbar' }, h('label', { for: 'experiment-picker' }, 'Experiment '), picker, actions),
    message, summary, table, chart, form));

  let stop: (() => void) | null = null;
  let experiments: Experiment[] = [];
  const act = async (verb: 'start' | 'stop' | 'archive', id: string) => {
    try {
      if (verb === 'start') await api.request(StartExperiment, { id });
      else if (verb === 'stop') await api.request(StopExperiment, { id });
      else await api.request(ArchiveExperiment, { id });
      message.textContent = '';
      await load(id);
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.message : `could not ${verb} it`;
    }
  };
  const showActions = (experiment: Experiment | undefined) => {
    replaceChildren(actions);
    if (!experiment) return;
    const button = (verb: 'start' | 'stop' | 'archive', label: string) => {
      const b = h('button', { type: 'button', 'data-action': verb }, label);
      b.addEventListener('click', () => void act(verb, experiment.id));
      return b;
    };
    if (experiment.status === 'RUNNING') actions.append(button('stop', 'Stop'));
    if (experiment.status === 'DRAFT' || experiment.status === 'STOPPED') {
      actions.append(button('start', 'Start'), button('archive', 'Archive'));
    }
  };
  const follow = (id: string) => {
    stop?.();
    stop = null;
    replaceChildren(table);
    replaceChildren(chart);
    if (!id) return;
    stop = api.subscribe(LiveExperimentResults, { id }, ({ experimentResults: results }) => {
      const experiment = results.experiment;
      const shown = results.variants.reduce((sum, v) => sum + v.counts.impressions, 0);
      summary.textContent = `${experiment.description || experiment.id} · ${experiment.mode === 'BANDIT' ? 'bandit (Thompson sampling)' : 'A/B test'} · ${experiment.status.toLowerCase()} · ${shown} lists shown`;
      summary.dataset.status = experiment.status;
      replaceChildren(table, resultsTable(results));
      replaceChildren(chart, trafficChart(results), h('figcaption', { class: 'muted' },
        `Share of lists per variant, ${results.bucketSecs} s buckets`));
      showActions(experiment);
    }, (error) => {
      message.textContent = error.message;
    });
  };
  const load = async (selected?: string) => {
    try {
      const answer = await api.request(Experiments, {});
      experiments = answer.experiments;
      form.dataset.strategies = answer.recommendationStrategies.join(',');
      form.dispatchEvent(new Event('strategies'));
      const running = experiments.find((e) => e.status === 'RUNNING');
      const id = selected ?? picker.value ?? '';
      const chosen = experiments.find((e) => e.id === id) ?? running ?? experiments[0];
      replaceChildren(picker, ...experiments.map((e) =>
        h('option', { value: e.id }, `${e.id} (${e.status.toLowerCase()})`)));
      picker.value = chosen?.id ?? '';
      if (!chosen) summary.textContent = 'No experiments yet: define one below.';
      showActions(chosen);
      follow(chosen?.id ?? '');
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.message : 'could not read the experiments';
    }
  };
  picker.addEventListener('change', () => follow(picker.value));
  void load();
  return () => stop?.();
}

/** A small form for a new experiment: id, mode and the strategies to compare (the first is the control). */
function createForm(
  api: ScreenContext['api'],
  created: (id: string) => void,
  report: (message: string) => void,
): HTMLElement {
  const id = h('input', { id: 'new-experiment-id', name: 'id', required: true, maxlength: '64', placeholder: 'spring-ranking' });
  const mode = h('select', { id: 'new-experiment-mode', name: 'mode' },
    h('option', { value: 'BANDIT' }, 'Bandit (Thompson sampling)'),
    h('option', { value: 'AB_TEST' }, 'A/B test (even split by hash)'));
  const strategies = h('fieldset', { class: 'strategies' }, h('legend', {}, 'Strategies (the first ticked is the control)'));
  const form = h('form', { class: 'new-experiment', 'aria-label': 'New experiment' },
    h('h2', {}, 'New experiment'),
    h('label', { for: 'new-experiment-id' }, 'Id '), id,
    h('label', { for: 'new-experiment-mode' }, ' Mode '), mode,
    strategies,
    h('button', { type: 'submit' }, 'Create'));
  form.addEventListener('strategies', () => {
    const names = (form.dataset.strategies ?? '').split(',').filter(Boolean);
    replaceChildren(strategies, h('legend', {}, 'Strategies (the first ticked is the control)'),
      ...names.map((name) => h('label', {}, h('input', { type: 'checkbox', name: 'strategy', value: name, checked: true }), ` ${name} `)));
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const picked = [...strategies.querySelectorAll<HTMLInputElement>('input:checked')].map((i) => i.value);
    const input = {
      id: (id as HTMLInputElement).value.trim(),
      mode: (mode as HTMLSelectElement).value as 'BANDIT' | 'AB_TEST',
      variants: picked.map((name) => ({ name, strategy: name, weight: 1 })),
    };
    void api.request(CreateExperiment, { input }).then(() => {
      report('');
      (id as HTMLInputElement).value = '';
      created(input.id);
    }, (error) => report(error instanceof ApiError ? error.message : 'could not create it'));
  });
  return form;
}

export const experiments: Screen = {
  id: 'experiments',
  title: 'Experiments',
  roles: ['admin'],
  mount,
};
