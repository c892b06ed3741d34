// What the bot found and decided for one of its messages, as the agent sees it: the decision,
// the detected language, the top intent with its confidence against the threshold, and the
// FAQ entries it retrieved. The server sends it as JSON; unknown or missing fields are shown as
// absent rather than trusted.

import { h } from '../../dom';

const DECISIONS: Record<string, string> = {
  answer: 'Answered from the FAQ',
  clarify: 'Asked which entry was meant',
  rephrase: 'Asked the customer to rephrase',
  handoff_requested: 'Handed off: the customer asked for a person',
  handoff_unsure: 'Handed off: no reliable answer',
};

const text = (value: unknown) => (typeof value === 'string' ? value : null);
const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const percent = (value: number | null) => (value === null ? '–' : `${(value * 100).toFixed(0)} %`);

export function evidenceView(evidence: unknown): HTMLElement | null {
  if (!evidence || typeof evidence !== 'object') return null;
  const e = evidence as Record<string, unknown>;
  const decision = text(e.decision);
  const entries = Array.isArray(e.entries) ? (e.entries as Record<string, unknown>[]) : [];
  const facts = Array.isArray(e.facts) ? e.facts.filter((f): f is string => typeof f === 'string') : [];
  return h('details', { class: 'evidence', 'data-decision': decision ?? '' },
    h('summary', {}, `${DECISIONS[decision ?? ''] ?? decision ?? 'Evidence'} · ${text(e.intent) ?? 'no intent'} ${percent(number(e.confidence))}`),
    h('dl', {},
      h('dt', {}, 'Language'), h('dd', {}, `${text(e.language) ?? 'not detected'}, replied in ${text(e.reply_language) ?? '–'}`),
      h('dt', {}, 'Confidence'), h('dd', {}, `${percent(number(e.confidence))} (threshold ${percent(number(e.threshold))}, lead ${percent(number(e.lead))}, margin ${percent(number(e.margin))})`),
      h('dt', {}, 'Answered from'), h('dd', {}, text(e.answered_from) ?? '–'),
      facts.length ? h('dt', {}, 'Account facts used') : null, facts.length ? h('dd', {}, facts.join(', ')) : null),
    entries.length
      ? h('ol', { class: 'evidence-entries', 'aria-label': 'FAQ entries retrieved' },
          ...entries.map((entry) => h('li', {}, `${text(entry.id) ?? '?'} (${text(entry.intent) ?? '?'}) ${percent(number(entry.confidence))}`)))
      : h('p', { class: 'muted' }, 'No FAQ entries retrieved.'));
}
