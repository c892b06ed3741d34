// AI tools: extractive summaries and language detection by the server's models.

import { ApiError, type Api } from '../../api';
import { h, replaceChildren } from '../../dom';
import { DetectLanguage, Summarize } from '../../generated/operations';

const SAMPLE =
  'Shares of the chipmaker rose 4% in early trading after it raised its full-year revenue forecast. ' +
  'Demand for data-centre accelerators remained strong, the company said, while its gaming segment slowed. ' +
  'Analysts at two brokers lifted their price targets. The stock has gained 60% this year.';

export function aiPanel(api: Api): HTMLElement {
  const text = h('textarea', { id: 'ai-text', rows: 6, maxlength: 20000 });
  text.value = SAMPLE;
  const output = h('div', { class: 'ai-output', id: 'ai-output', 'aria-live': 'polite' });
  const run = async (what: 'summarize' | 'language') => {
    replaceChildren(output, h('p', { class: 'muted' }, 'Working…'));
    try {
      if (what === 'summarize') {
        const { summarize } = await api.request(Summarize, { text: text.value, sentences: 2 });
        replaceChildren(output, h('h3', {}, 'Summary'), summarize.length ? h('ul', {}, ...summarize.map((s) => h('li', {}, s))) : h('p', { class: 'muted' }, 'Nothing to summarise.'));
      } else {
        const { detectLanguage } = await api.request(DetectLanguage, { text: text.value });
        replaceChildren(output, h('h3', {}, 'Language'), h('p', { id: 'ai-language' }, detectLanguage ? `${detectLanguage.name} (${detectLanguage.code})` : 'Not enough text to tell.'));
      }
    } catch (error) {
      replaceChildren(output, h('p', { class: 'error', role: 'alert' }, error instanceof ApiError ? error.message : 'The request failed; try again.'));
    }
  };
  const summarize = h('button', { type: 'button', id: 'ai-summarize' }, 'Summarise');
  summarize.addEventListener('click', () => void run('summarize'));
  const detect = h('button', { type: 'button', id: 'ai-detect', class: 'secondary' }, 'Detect language');
  detect.addEventListener('click', () => void run('language'));
  return h('section', { class: 'panel', 'aria-labelledby': 'ai-title' },
    h('h2', { id: 'ai-title' }, 'AI tools'),
    h('label', { for: 'ai-text' }, 'Text'), text,
    h('div', { class: 'actions' }, summarize, detect), output);
}
