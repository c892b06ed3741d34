// The "Admin" screen, for operators (role `admin`): the audit log, newest first. Every agent's
// read of a customer's conversation or ticket and every privileged change (FAQ edits, model
// retraining and rollback, experiments) is an entry, hash-chained in the store
// (`finpulse audit verify` checks the chain). Filter by who did it or whose data it was; older
// entries page in below.

import { ApiError } from '../../api';
import { h, replaceChildren } from '../../dom';
import { AuditLog, type AuditLogResult } from '../../generated/operations';
import type { Screen, ScreenContext } from '../registry';

type Entry = AuditLogResult['auditLog'][number];

const PAGE = 50;

function row(entry: Entry): HTMLElement {
  const detail = entry.detail && Object.keys(entry.detail as object).length ? JSON.stringify(entry.detail) : '';
  return h('tr', { 'data-seq': entry.seq, 'data-action': entry.action },
    h('td', { class: 'num' }, entry.seq),
    h('td', {}, new Date(entry.at).toLocaleString()),
    h('td', {}, entry.actor, h('span', { class: 'muted' }, ` (${entry.roles.join(', ')})`)),
    h('td', {}, h('code', {}, entry.action)),
    h('td', {}, entry.subject ?? '—'),
    h('td', {}, entry.target ?? '—'),
    h('td', { class: 'muted' }, detail),
    h('td', { title: entry.hash }, h('code', {}, entry.hash.slice(0, 12))));
}

function mount(root: HTMLElement, { api }: ScreenContext): () => void {
  const actor = h('input', { id: 'audit-actor', placeholder: 'user id', size: 12 }) as HTMLInputElement;
  const subject = h('input', { id: 'audit-subject', placeholder: 'customer id', size: 12 }) as HTMLInputElement;
  const message = h('p', { class: 'error', role: 'alert' });
  const body = h('tbody', { id: 'audit-rows' });
  const more = h('button', { type: 'button', id: 'audit-more', class: 'secondary', hidden: true }, 'Older entries');
  const form = h('form', { class: 'toolbar', 'aria-label': 'Filter the audit log' },
    h('label', { for: 'audit-actor' }, 'Actor '), actor,
    h('label', { for: 'audit-subject' }, ' Customer '), subject,
    h('button', { type: 'submit' }, 'Show'));
  root.append(h('section', { class: 'panel audit' },
    h('h1', {}, 'Audit log'),
    h('p', { class: 'muted' }, 'Agents’ reads of customers’ data and every privileged change, newest first.'),
    form, message,
    h('table', { class: 'audit-log', 'aria-label': 'Audit log entries' },
      h('thead', {}, h('tr', {},
        ...['#', 'When', 'Who', 'What', 'Customer', 'On', 'Detail', 'Hash'].map((label) => h('th', { scope: 'col' }, label)))),
      body),
    more));

  let last: string | null = null;
  let gone = false;
  const load = async (fresh: boolean) => {
    try {
      const result = await api.request(AuditLog, {
        first: PAGE,
        after: fresh ? null : last,
        actor: actor.value.trim() || null,
        subject: subject.value.trim() || null,
      });
      if (gone) return;
      const rows = result.auditLog.map(row);
      if (fresh) replaceChildren(body, ...rows);
      else body.append(...rows);
      last = result.auditLog.at(-1)?.seq ?? last;
      more.hidden = result.auditLog.length < PAGE;
      message.textContent = fresh && result.auditLog.length === 0 ? 'No entries.' : '';
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.message : 'could not read the audit log';
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void load(true);
  });
  more.addEventListener('click', () => void load(false));
  void load(true);
  return () => {
    gone = true;
  };
}

export const admin: Screen = {
  id: 'admin',
  title: 'Admin',
  roles: ['admin'],
  mount,
};
