// The support-chat widget: one script a bank adds to any page.
//
//   <script src="https://finpulse.example/widget.js" data-finpulse-url="https://finpulse.example"
//           data-token-url="/api/finpulse-token" defer></script>
//
// It renders into a Shadow DOM on its own host element, so the page's CSS cannot reach in and
// its own cannot leak out. Attributes of the script tag:
//   data-finpulse-url  the finpulse server (default: where widget.js came from);
//   data-token-url     the host's endpoint that answers `{"token": …, "expiresAt": …}` for the
//                      signed-in customer (called with the page's cookies);
//   data-dev-user      instead, on the embedded default only: a development token for this user;
//   data-language      en, de, fr or es (default: the browser's languages, then English);
//   data-open          present: open the chat at once.
// `window.FinpulseWidget.open()` / `.close()` let the page's own "Contact us" links open it.
//
// A page that signs its users in itself (with the same identity provider as finpulse) mounts
// the widget from script instead, and hands it the user's access token:
//
//   <script src="https://finpulse.example/widget.js" data-mount="manual" defer></script>
//   FinpulseChat.mount({ getToken: async () => myAuth.accessToken() });
//
// `getToken` is called for the first token and again before each one expires; it answers the
// token (a string, its expiry read from the JWT's `exp`) or `{ token, expiresAt }`. Options
// `server`, `language` and `open` stand for the attributes of the same names.

import { WidgetClient, type HostToken, type TokenSource } from './client';
import { Chat } from './chat';
import { pickLanguage, strings } from './strings';
import css from './widget.css?inline';

let chat: Chat | null = null;

/** What `FinpulseChat.mount` takes. */
export interface MountOptions {
  /** The signed-in user's access token (or `{ token, expiresAt }`), asked again before it expires. */
  getToken: () => Promise<HostToken> | HostToken;
  /** The finpulse server (default: where widget.js came from). */
  server?: string;
  /** en, de, fr or es (default: the browser's languages, then English). */
  language?: string;
  /** Open the chat at once. */
  open?: boolean;
}

function start(script: HTMLScriptElement | null): void {
  const data = script?.dataset ?? {};
  let tokens: TokenSource;
  if (data.tokenUrl) tokens = { kind: 'host', url: new URL(data.tokenUrl, window.location.href).href };
  else if (data.devUser) tokens = { kind: 'dev', user: data.devUser };
  else {
    // The page mounts it from script with its own tokens (`FinpulseChat.mount`).
    if (data.mount !== 'manual') {
      console.error(
        'finpulse chat: the script tag needs data-token-url, data-mount="manual" with FinpulseChat.mount({ getToken }), or data-dev-user on a demo server',
      );
    }
    return;
  }
  render(serverOf(data.finpulseUrl), tokens, data.language, data.open !== undefined);
}

function serverOf(given: string | undefined): URL {
  const scriptUrl = script?.src ? new URL(script.src, window.location.href) : new URL(window.location.href);
  const server = new URL(given || scriptUrl.origin, window.location.href);
  if (!server.pathname.endsWith('/')) server.pathname += '/';
  return server;
}

/** Mounts the chat with tokens from the embedding page. */
export function mount(options: MountOptions): void {
  if (typeof options?.getToken !== 'function') throw new TypeError('FinpulseChat.mount needs getToken()');
  if (chat) throw new Error('the finpulse chat is mounted already');
  render(serverOf(options.server), { kind: 'page', getToken: options.getToken }, options.language, options.open === true);
}

function render(server: URL, tokens: TokenSource, languageWanted: string | undefined, openNow: boolean): void {
  const language = pickLanguage(languageWanted ? [languageWanted] : navigator.languages ?? [navigator.language]);
  const client = new WidgetClient(server, tokens);

  // A custom element of its own, placed with inline `!important` styles: a page rule such as
  // `div { position: static }` or `* { font-family: … }` cannot match or move it, and
  // `all: initial` stops inherited fonts and colours at the shadow boundary.
  const host = document.createElement('finpulse-chat');
  host.style.cssText =
    'all: initial !important; position: fixed !important; right: 16px !important; bottom: 16px !important; z-index: 2147483000 !important; display: block !important;';
  const root = host.attachShadow({ mode: 'open' });
  // A constructed style sheet, not a <style> element: a host page whose Content-Security-Policy
  // allows no inline style (finpulse's own /demo among them) still styles the widget.
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  root.adoptedStyleSheets = [sheet];
  document.body.append(host);
  // Keyed by server and user: a shared computer's next customer never sees the last one's chat.
  const storageKey = () => `finpulse.chat.${server.href}.${client.user ?? 'anonymous'}`;
  chat = new Chat(root, client, language, strings(language), storageKey);
  if (openNow) chat.open();
}

/** Opens the chat (for the host page's own links and buttons). */
export function open(): void {
  chat?.open();
}

/** Closes the chat. */
export function close(): void {
  chat?.close();
}

// `currentScript` is only set while the script first runs, so it is read now.
const script = document.currentScript as HTMLScriptElement | null;
// The name the guide documents, beside the bundle's own `FinpulseWidget`.
(window as unknown as { FinpulseChat: unknown }).FinpulseChat = { mount, open, close };
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => start(script));
else start(script);
