// The agents' console (role `agent`): the handoff queue and the open tickets on the left, the
// chosen conversation on the right with what the bot found (decision, language, intent,
// confidence, the FAQ entries it retrieved), and claim, reply, transfer and resolve.
//
// The queue is a live subscription (re-read by the server on every change); the tickets list is
// read again whenever a ticket changes (opened, triaged, escalated, answered, solved); the open
// conversation follows `chat`, so the customer's messages appear as they write.

import { ApiError } from '../../api';
import { h, replaceChildren } from '../../dom';
import {
  AgentChat,
  AgentConversation,
  ClaimConversation,
  CsatSummary,
  OpenTickets,
  ResolveConversation,
  SendChatMessage,
  SupportQueue,
  TicketChanges,
  TransferConversation,
  type AgentConversationResult,
  type OpenTicketsResult,
  type SupportQueueResult,
} from '../../generated/operations';
import type { Screen, ScreenContext } from '../registry';
import { evidenceView } from './evidence';

type Conversation = NonNullable<AgentConversationResult['conversation']>;
type Message = Conversation['messages'][number];
type Ticket = OpenTicketsResult['tickets'][number];
type Waiting = SupportQueueResult['supportQueue'][number];

const STATUS_TEXT: Record<Conversation['status'], string> = {
  OPEN: 'With the bot',
  WAITING_FOR_AGENT: 'Waiting for an agent',
  WITH_AGENT: 'With an agent',
  RESOLVED: 'Resolved',
};

const since = (iso: string) => {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60_000));
  return minutes < 1 ? 'just now' : minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
};

function mount(root: HTMLElement, { api, session }: ScreenContext): () => void {
  const me = session.user?.id ?? '';
  const csat = h('p', { class: 'muted', id: 'support-csat' });
  const alert = h('p', { class: 'error', role: 'alert' });
  const queue = h('ul', { class: 'support-list', id: 'support-queue', 'aria-label': 'Waiting for an agent' });
  const tickets = h('ul', { class: 'support-list', id: 'support-tickets', 'aria-label': 'Open tickets' });
  const detail = h('section', { class: 'panel support-detail', id: 'support-conversation', 'aria-label': 'Conversation' },
    h('p', { class: 'muted' }, 'Pick a conversation from the queue or the tickets.'));
  root.append(h('div', { class: 'support' },
    h('section', { class: 'panel support-side' },
      h('h1', {}, 'Support desk'), csat, alert,
      h('h2', {}, 'Waiting'), queue,
      h('h2', {}, 'Open tickets'), tickets),
    detail));

  let selected: string | null = null;
  let stopChat: (() => void) | null = null;
  const ticketById = new Map<string, Ticket>();
  const fail = (error: unknown) => {
    alert.textContent = error instanceof ApiError ? error.message : 'That did not work; try again.';
  };

  const readCsat = async () => {
    try {
      const { csatSummary: s } = await api.request(CsatSummary, {});
      csat.textContent = s.ratings ? `CSAT ${s.average?.toFixed(2)} from ${s.ratings} ratings (${s.resolved} resolved)` : `${s.resolved} resolved, none rated yet`;
    } catch (error) {
      fail(error);
    }
  };

  const renderQueue = (waiting: Waiting[]) => {
    queue.dataset.count = String(waiting.length);
    replaceChildren(queue, ...waiting.map((c) => h('li', {},
      h('button', { type: 'button', class: 'secondary', 'data-conversation': c.id, 'aria-current': c.id === selected ? 'true' : null, onclick: () => void open(c.id) },
        h('strong', {}, c.customer), ` · ${c.language ?? '?'} · waiting ${since(c.updatedAt)}`,
        h('span', { class: 'snippet' }, c.messages[0]?.text ?? '')))));
    if (!waiting.length) queue.append(h('li', { class: 'muted' }, 'Nobody is waiting.'));
  };

  const readTickets = async () => {
    try {
      const { tickets: openTickets } = await api.request(OpenTickets, {});
      ticketById.clear();
      for (const ticket of openTickets) ticketById.set(ticket.id, ticket);
      replaceChildren(tickets, ...openTickets.map((t) => h('li', {},
        h('button', { type: 'button', class: 'secondary', 'data-conversation': t.id, onclick: () => void open(t.id) },
          h('span', { class: `priority ${t.priority.toLowerCase()}` }, t.priority), ' ',
          h('strong', {}, t.subject),
          h('span', { class: 'snippet' }, `${t.customer} · ${t.category}${t.needsTriage ? ' (needs triage)' : ''} · SLA ${t.slaStage.toLowerCase().replaceAll('_', ' ')}`)))));
      if (!openTickets.length) tickets.append(h('li', { class: 'muted' }, 'No open tickets.'));
    } catch (error) {
      fail(error);
    }
  };

  const ticketFacts = (id: string) => {
    const t = ticketById.get(id);
    if (!t) return null;
    return h('dl', { class: 'ticket-facts' },
      h('dt', {}, 'Category'), h('dd', {}, `${t.category} (${(t.categoryConfidence * 100).toFixed(0)} %)${t.needsTriage ? ', needs triage' : ''}`),
      h('dt', {}, 'Priority'), h('dd', {}, `${t.priority.toLowerCase()}: ${t.priorityReasons.join('; ')}`),
      h('dt', {}, 'Sentiment'), h('dd', {}, t.sentiment?.toLowerCase() ?? 'unknown'),
      h('dt', {}, 'Tier'), h('dd', {}, t.tier.toLowerCase()),
      h('dt', {}, 'First reply due'), h('dd', {}, t.firstResponseAt ? `answered ${since(t.firstResponseAt)} ago` : new Date(t.firstResponseDue).toLocaleString()));
  };

  const messageView = (m: Message) => m.action && m.action !== 'OPEN_TICKET'
    ? h('li', { class: 'chat-note muted', 'data-id': m.id, 'data-action': m.action }, `${m.authorId} ${m.text} · ${new Date(m.at).toLocaleTimeString()}`)
    : h('li', { class: `chat-message ${m.author.toLowerCase()}`, 'data-author': m.author, 'data-id': m.id },
    h('p', { class: 'muted who' }, `${m.author === 'BOT' ? 'Bot' : m.authorId} · ${new Date(m.at).toLocaleTimeString()}${m.language ? ` · ${m.language}` : ''}`,
      m.sentiment ? h('span', { class: `tone ${m.sentiment.toLowerCase()}`, 'data-sentiment': m.sentiment }, m.sentiment.toLowerCase()) : null),
    h('p', { class: 'text' }, m.text),
    m.evidence ? evidenceView(m.evidence) : null);

  const open = async (id: string) => {
    selected = id;
    stopChat?.();
    stopChat = null;
    alert.textContent = '';
    for (const button of root.querySelectorAll<HTMLButtonElement>('[data-conversation]')) {
      if (button.dataset.conversation === id) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
    let conversation: Conversation;
    try {
      ({ conversation } = await api.request(AgentConversation, { id }));
    } catch (error) {
      fail(error);
      return;
    }
    if (selected !== id) return;
    const seen = new Set<string>();
    const status = h('p', { class: 'conversation-status', role: 'status' });
    const log = h('ol', { class: 'chat-log', 'aria-label': `Messages with ${conversation.customer}`, 'aria-live': 'polite' });
    const reply = h('textarea', { id: 'agent-reply', rows: 3, placeholder: 'Reply to the customer…' });
    const claim = h('button', { type: 'button', id: 'agent-claim' }, 'Claim');
    const resolve = h('button', { type: 'button', id: 'agent-resolve', class: 'secondary' }, 'Resolve');
    const transferTo = h('input', { id: 'agent-transfer-to', placeholder: 'agent id', size: 10 });
    const transfer = h('button', { type: 'button', id: 'agent-transfer', class: 'secondary' }, 'Transfer');
    const form = h('form', { class: 'agent-reply' },
      h('label', { for: 'agent-reply' }, 'Reply'), reply, h('button', { type: 'submit', id: 'agent-send' }, 'Send'));
    const update = (c: Omit<Conversation, 'messages'>) => {
      status.dataset.status = c.status;
      status.textContent = `${STATUS_TEXT[c.status]}${c.agent ? ` (${c.agent === me ? 'you' : c.agent})` : ''}${c.csat ? ` · rated ${c.csat}/5` : ''}`;
      claim.hidden = c.status !== 'WAITING_FOR_AGENT';
      resolve.hidden = c.status === 'RESOLVED';
      form.hidden = c.status === 'RESOLVED';
    };
    const add = (m: Message) => {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      log.append(messageView(m));
      log.scrollTop = log.scrollHeight;
    };
    const act = async (run: () => Promise<unknown>) => {
      alert.textContent = '';
      try {
        await run();
      } catch (error) {
        fail(error);
      }
    };
    claim.addEventListener('click', () => void act(() => api.request(ClaimConversation, { id })));
    resolve.addEventListener('click', () => void act(() => api.request(ResolveConversation, { id })));
    transfer.addEventListener('click', () => {
      const to = transferTo.value.trim();
      if (to) void act(() => api.request(TransferConversation, { id, to }));
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = reply.value.trim();
      if (!text) return;
      void act(async () => {
        const { sendMessage } = await api.request(SendChatMessage, { conversationId: id, text, language: null });
        reply.value = '';
        add({ ...sendMessage, evidence: null, sentiment: null });
      });
    });

    const { messages, ...rest } = conversation;
    replaceChildren(detail,
      h('h2', {}, `${conversation.customer} · ${conversation.language ?? 'language unknown'}`),
      status, ticketFacts(id), log,
      h('div', { class: 'agent-actions' }, claim, transferTo, transfer, resolve),
      form);
    detail.dataset.conversation = id;
    update(rest);
    for (const m of messages) add(m);
    stopChat = api.subscribe(AgentChat, { conversationId: id }, ({ chat }) => {
      update(chat.conversation);
      add(chat.message);
      if (chat.conversation.status === 'RESOLVED') void readCsat();
    }, fail);
  };

  const stopQueue = api.subscribe(SupportQueue, {}, ({ supportQueue }) => renderQueue(supportQueue), fail);
  const stopTickets = api.subscribe(TicketChanges, {}, () => void readTickets(), fail);
  const stopReconnect = api.onReconnect(() => {
    void readTickets();
    if (selected) void open(selected);
  });
  void readTickets();
  void readCsat();
  return () => {
    stopQueue();
    stopTickets();
    stopReconnect();
    stopChat?.();
  };
}

export const support: Screen = {
  id: 'support',
  title: 'Support',
  roles: ['agent'],
  mount,
};
