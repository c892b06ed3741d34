// The chat itself: a launcher button and a dialog with the conversation, built into the shadow
// root the entry point made. One conversation at a time, remembered per server and user, so a
// reload (or the next page of the host's site) carries on where the customer was.
//
// Ordering: a new conversation is subscribed (`chat`) on an acknowledged socket before the
// first message is sent, so the bot's reply is pushed to us; should a reply still not have
// arrived a few seconds after a send (the socket was away), the history is read and merged.
// Messages are keyed by id, so a message seen both ways shows once.

import { h } from '../dom';
import {
  ChatHistory,
  CustomerChat,
  RateConversation,
  SendChatMessage,
  StartConversation,
  type ChatHistoryResult,
} from '../generated/operations';
import { ApiError, type WidgetClient } from './client';
import type { Language, Strings } from './strings';

type Conversation = NonNullable<ChatHistoryResult['conversation']>;
type Message = Conversation['messages'][number];

/** How long after a send a missing reply makes us read the history. */
const RECONCILE_AFTER_MS = 4_000;
/** The typing indicator gives up after this long (the desk may be handing off). */
const TYPING_LIMIT_MS = 20_000;
/** Longest message the desk accepts, in characters (it counts bytes; this is the UI's bound). */
const MAX_LENGTH = 4_000;

/** A speech bubble, drawn (an emoji depends on the visitor's fonts). */
function bubbleIcon(): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '20');
  svg.setAttribute('height', '20');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}

export class Chat {
  private conversation: Omit<Conversation, 'messages'> | null = null;
  private readonly seen = new Set<string>();
  private stopChat: (() => void) | null = null;
  private typingTimer: number | undefined;
  private reconcileTimer: number | undefined;
  private loaded = false;

  private readonly launcher: HTMLButtonElement;
  private readonly panel: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly scroller: HTMLDivElement;
  private readonly status: HTMLParagraphElement;
  private readonly typing: HTMLParagraphElement;
  private readonly rating: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly error: HTMLParagraphElement;
  private readonly humanButton: HTMLButtonElement;
  private readonly newButton: HTMLButtonElement;

  constructor(
    root: ShadowRoot,
    private readonly client: WidgetClient,
    private readonly language: Language,
    private readonly text: Strings,
    private readonly storageKey: () => string,
  ) {
    this.launcher = h('button', { type: 'button', class: 'launcher', 'aria-expanded': 'false', 'aria-controls': 'fp-panel' },
      bubbleIcon(), text.launcher);
    this.status = h('p', { class: 'status', role: 'status' });
    this.log = h('ol', { class: 'messages' });
    // The live region wraps the list (a list given role="log" would stop being a list).
    this.scroller = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': text.log, tabindex: '0' }, this.log);
    this.typing = h('p', { class: 'typing', hidden: true }, h('span', { class: 'dots', 'aria-hidden': 'true' }), text.typing);
    this.rating = h('div', { class: 'rating', hidden: true });
    this.error = h('p', { class: 'error', role: 'alert' });
    this.input = h('textarea', { id: 'fp-input', rows: 2, maxlength: MAX_LENGTH, placeholder: text.placeholder, autocomplete: 'off' });
    this.humanButton = h('button', { type: 'button', class: 'secondary human' }, text.human);
    this.newButton = h('button', { type: 'button', class: 'secondary', hidden: true }, text.newChat);
    const form = h('form', { class: 'compose' },
      h('label', { for: 'fp-input', class: 'visually-hidden' }, text.placeholder),
      this.input,
      h('button', { type: 'submit', class: 'send' }, text.send));
    const close = h('button', { type: 'button', class: 'close', 'aria-label': text.close }, '×');
    this.panel = h('section', { id: 'fp-panel', class: 'panel', role: 'dialog', 'aria-labelledby': 'fp-title', hidden: true, lang: language },
      h('header', {},
        h('div', {}, h('h2', { id: 'fp-title' }, text.title), h('p', { class: 'subtitle' }, text.subtitle)),
        close),
      this.scroller, this.typing, this.status, this.rating, this.error, form,
      h('div', { class: 'actions' }, this.humanButton, this.newButton));
    root.append(h('div', { class: 'fp' }, this.panel, this.launcher));
    this.greet();

    this.launcher.addEventListener('click', () => (this.panel.hidden ? this.open() : this.close()));
    close.addEventListener('click', () => this.close());
    this.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send(this.input.value);
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.send(this.input.value);
      }
    });
    this.humanButton.addEventListener('click', () => void this.send(text.humanMessage));
    this.newButton.addEventListener('click', () => this.startOver());
    client.onState((online) => {
      this.status.dataset.offline = String(!online);
      this.renderStatus();
    });
    client.onReconnect(() => void this.reconcile());
  }

  /** Shows the dialog (and reads the remembered conversation the first time). */
  open(): void {
    this.panel.hidden = false;
    this.launcher.setAttribute('aria-expanded', 'true');
    this.input.focus();
    if (!this.loaded) {
      this.loaded = true;
      void this.resume();
    }
  }

  close(): void {
    this.panel.hidden = true;
    this.launcher.setAttribute('aria-expanded', 'false');
    this.launcher.focus();
  }

  private greet(): void {
    this.log.append(h('li', { class: 'msg bot greeting' }, h('p', {}, this.text.greeting)));
  }

  /** Carries on with the conversation this customer had open here, unless it is over. */
  private async resume(): Promise<void> {
    try {
      await this.client.signIn();
      const id = localStorage.getItem(this.storageKey());
      if (!id) return;
      const { conversation } = await this.client.request(ChatHistory, { id });
      if (!conversation || (conversation.status === 'RESOLVED' && conversation.csat !== null)) {
        localStorage.removeItem(this.storageKey());
        return;
      }
      this.follow(conversation);
      for (const message of conversation.messages) this.show(message);
      this.renderStatus();
    } catch (error) {
      // Another user's id, or a conversation the store no longer has: start afresh.
      if (error instanceof ApiError && error.code === 'NOT_FOUND') localStorage.removeItem(this.storageKey());
      else console.info('finpulse chat: could not resume the conversation:', String(error));
    }
  }

  /** Subscribes to `conversation`'s messages (once per conversation). */
  private follow(conversation: Omit<Conversation, 'messages'>): void {
    this.conversation = conversation;
    localStorage.setItem(this.storageKey(), conversation.id);
    this.stopChat?.();
    this.stopChat = this.client.subscribe(CustomerChat, { conversationId: conversation.id }, ({ chat }) => {
      this.conversation = chat.conversation;
      this.show(chat.message);
      this.renderStatus();
    }, (error) => {
      // A lagged subscription still has every message in the store.
      if (error.code === 'LAGGED') void this.reconcile();
      else console.info('finpulse chat: subscription ended:', error.message);
    });
  }

  private async send(raw: string): Promise<void> {
    const text = raw.trim();
    if (!text) return;
    this.error.textContent = '';
    try {
      if (!this.conversation || this.conversation.status === 'RESOLVED') {
        const { startConversation } = await this.client.request(StartConversation, { language: this.language });
        this.follow(startConversation);
        await this.client.whenConnected();
      }
      const conversation = this.conversation;
      if (!conversation) return;
      const { sendMessage } = await this.client.request(SendChatMessage, {
        conversationId: conversation.id,
        text,
        language: this.language,
      });
      if (raw === this.input.value) this.input.value = '';
      this.show(sendMessage);
      if (conversation.status === 'OPEN') this.setTyping(true);
      window.clearTimeout(this.reconcileTimer);
      this.reconcileTimer = window.setTimeout(() => void this.reconcile(), RECONCILE_AFTER_MS);
    } catch (error) {
      this.error.textContent = error instanceof ApiError && error.code === 'BAD_USER_INPUT' ? error.message : this.text.failed;
    }
  }

  /** Reads the conversation and shows whatever the pushes did not bring. */
  private async reconcile(): Promise<void> {
    const id = this.conversation?.id;
    if (!id) return;
    try {
      const { conversation } = await this.client.request(ChatHistory, { id });
      if (!conversation || conversation.id !== this.conversation?.id) return;
      const { messages, ...rest } = conversation;
      this.conversation = rest;
      for (const message of messages) this.show(message);
      this.renderStatus();
    } catch (error) {
      console.info('finpulse chat: could not read the conversation:', String(error));
    }
  }

  private show(message: Message): void {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    if (message.author !== 'CUSTOMER') {
      this.setTyping(false);
      window.clearTimeout(this.reconcileTimer);
    }
    if (message.action && message.action !== 'OPEN_TICKET') {
      // An action, not words: said in the widget's language (the text is the server's log line).
      const note = {
        CLAIM: this.text.joined(message.authorId),
        TRANSFER: this.text.transferred,
        RESOLVE: this.text.resolved,
        RATE: null,
      }[message.action];
      if (note) this.log.append(h('li', { class: 'note', 'data-id': message.id, 'data-action': message.action }, note));
      this.scroller.scrollTop = this.scroller.scrollHeight;
      return;
    }
    const who = { CUSTOMER: this.text.you, BOT: this.text.assistant, AGENT: this.text.agent }[message.author];
    this.log.append(h('li', { class: `msg ${message.author.toLowerCase()}`, 'data-author': message.author, 'data-id': message.id },
      h('span', { class: 'visually-hidden' }, `${who}: `),
      h('p', { lang: message.language ?? null }, message.text)));
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private setTyping(on: boolean): void {
    window.clearTimeout(this.typingTimer);
    this.typing.hidden = !on;
    if (on) this.typingTimer = window.setTimeout(() => this.setTyping(false), TYPING_LIMIT_MS);
  }

  private renderStatus(): void {
    const conversation = this.conversation;
    const offline = this.status.dataset.offline === 'true';
    const state = conversation?.status ?? 'OPEN';
    this.status.dataset.state = state;
    this.status.textContent = offline
      ? this.text.offline
      : state === 'WAITING_FOR_AGENT'
        ? this.text.waiting
        : state === 'WITH_AGENT'
          ? this.text.joined(conversation?.agent ?? this.text.agent)
          : state === 'RESOLVED'
            ? this.text.resolved
            : '';
    this.humanButton.hidden = state !== 'OPEN';
    this.newButton.hidden = state !== 'RESOLVED';
    if (state !== 'RESOLVED') this.rating.hidden = true;
    else if (conversation && conversation.csat === null) this.askRating(conversation.id);
  }

  /** CSAT: five buttons, once. */
  private askRating(id: string): void {
    if (!this.rating.hidden) return;
    const buttons = [1, 2, 3, 4, 5].map((score) => {
      const button = h('button', { type: 'button', class: 'star', 'aria-label': this.text.star(score), 'data-score': score }, '★');
      button.addEventListener('click', async () => {
        for (const b of buttons) b.disabled = true;
        try {
          await this.client.request(RateConversation, { id, score });
          this.rating.replaceChildren(h('p', { role: 'status' }, this.text.thanks));
          if (this.conversation) this.conversation = { ...this.conversation, csat: score };
          localStorage.removeItem(this.storageKey());
        } catch (error) {
          for (const b of buttons) b.disabled = false;
          this.error.textContent = error instanceof ApiError ? error.message : this.text.failed;
        }
      });
      return button;
    });
    this.rating.replaceChildren(h('p', { id: 'fp-rate' }, this.text.rate), h('div', { role: 'group', 'aria-labelledby': 'fp-rate', class: 'stars' }, ...buttons));
    this.rating.hidden = false;
  }

  private startOver(): void {
    this.stopChat?.();
    this.stopChat = null;
    this.conversation = null;
    this.seen.clear();
    localStorage.removeItem(this.storageKey());
    this.log.replaceChildren();
    this.greet();
    this.rating.hidden = true;
    this.renderStatus();
    this.input.focus();
  }
}
