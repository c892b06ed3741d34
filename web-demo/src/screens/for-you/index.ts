// The "For you" screen: the signed-in customer's recommendations, live. Open, save and dismiss
// send interactions (with the list's recommendation id, for attribution); the server re-ranks
// at once and pushes a new list, and items that moved show which way.

import { ApiError } from '../../api';
import { h, replaceChildren } from '../../dom';
import { LiveRecommendations, TrackInteraction } from '../../generated/operations';
import type { LiveRecommendationsResult } from '../../generated/operations';
import type { Screen, ScreenContext } from '../registry';

const SHOWN = 12;

type Kind = 'CLICK' | 'SAVE' | 'DISMISS';

/** One recommended item as the subscription selects it (`RecommendationFields`). */
type Entry = LiveRecommendationsResult['recommendations']['items'][number];

function kindLabel(entry: Entry): string {
  if (entry.item.kind === 'ARTICLE') return 'Article';
  if (entry.item.kind === 'NEWS') return 'News';
  const classes: Record<string, string> = { STOCK: 'Stock', ETF: 'ETF', FUND: 'Fund', BOND: 'Bond' };
  return classes[entry.item.assetClass ?? ''] ?? 'Instrument';
}

function mount(root: HTMLElement, { api, session }: ScreenContext): () => void {
  const title = h('h1', {}, 'For you');
  if (!session.user) {
    root.append(h('section', { class: 'panel for-you' }, title,
      h('p', { class: 'muted' }, 'Pick a user at the top right to see recommendations made for them.')));
    return () => {};
  }
  const provenance = h('p', { class: 'muted', id: 'for-you-provenance', 'aria-live': 'polite' }, 'Loading…');
  const message = h('p', { class: 'error', role: 'alert' });
  const list = h('ol', { class: 'recommendations', id: 'for-you-list', 'aria-label': 'Recommended for you', 'data-updates': '0' });
  root.append(h('section', { class: 'panel for-you' }, title, provenance, message, list));

  let previous: string[] = [];
  // Items whose description the customer opened: the list a click brings keeps them open.
  const opened = new Set<string>();
  let updates = 0;
  const send = async (entry: Entry, kind: Kind) => {
    try {
      await api.request(TrackInteraction, { itemId: entry.item.id, kind, recommendationId: entry.recommendationId });
      message.textContent = '';
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.message : 'That could not be sent; try again.';
    }
  };
  const row = (entry: Entry, position: number) => {
    const before = previous.indexOf(entry.item.id);
    const movement = before === -1 ? (previous.length ? 'new' : '') : before > position ? 'up' : before < position ? 'down' : '';
    const marker = { new: 'New', up: '▲ Up', down: '▼ Down', '': '' }[movement];
    const id = entry.item.id;
    const details = h('p', { class: 'description', hidden: !opened.has(id) }, entry.item.description);
    const open = h('button', { type: 'button', 'data-action': 'open', 'aria-expanded': String(opened.has(id)) }, 'Open');
    open.addEventListener('click', () => {
      const expanded = details.hidden;
      details.hidden = !expanded;
      open.setAttribute('aria-expanded', String(expanded));
      if (expanded) opened.add(id);
      else opened.delete(id);
      if (expanded) void send(entry, 'CLICK');
    });
    const save = h('button', { type: 'button', 'data-action': 'save' }, 'Save');
    save.addEventListener('click', () => void send(entry, 'SAVE'));
    const dismiss = h('button', { type: 'button', 'data-action': 'dismiss', 'aria-label': `Dismiss ${entry.item.name}` }, 'Dismiss');
    dismiss.addEventListener('click', () => void send(entry, 'DISMISS'));
    const facts = [kindLabel(entry), entry.item.sector, entry.item.risk ? `risk ${entry.item.risk}/7` : null].filter(Boolean).join(' · ');
    return h('li', { 'data-item': entry.item.id, 'data-movement': movement || null },
      h('div', { class: 'head' },
        h('strong', {}, entry.item.name),
        marker ? h('span', { class: `movement ${movement}` }, marker) : null),
      h('p', { class: 'muted facts' }, facts),
      h('p', { class: 'why' }, entry.explanation),
      details,
      h('div', { class: 'actions' }, open, save, dismiss));
  };

  const stop = api.subscribe(LiveRecommendations, { first: SHOWN }, ({ recommendations }) => {
    const entries: Entry[] = recommendations.items;
    provenance.textContent = `${entries.length} picks · model ${recommendations.provenance.model} · version ${recommendations.provenance.modelVersion}`;
    replaceChildren(list, ...entries.map(row));
    if (!entries.length) list.append(h('li', { class: 'muted' }, 'Nothing suitable to show yet.'));
    previous = entries.map((e) => e.item.id);
    updates += 1;
    list.dataset.updates = String(updates);
    list.dataset.model = recommendations.provenance.model;
  }, (error) => {
    message.textContent = error.message;
  });
  return stop;
}

export const forYou: Screen = {
  id: 'for-you',
  title: 'For you',
  mount,
};
