// The dashboard's frame: header (navigation, link state, theme, user), and the screen of the
// current path below /app/.

import './style.css';
import { Api, type LinkState } from './api';
import { h, replaceChildren } from './dom';
import { visibleScreens, type Screen } from './screens/registry';
import { startSession, type Session } from './session';
import { applyTheme, currentTheme } from './theme';

/** Who the picker offers: demo customers, a support agent, and an operator who sees the admin screens. */
const DEMO_USERS: { id: string; label: string; roles?: string[] }[] = [
  { id: 'alice', label: 'alice' },
  { id: 'bob', label: 'bob' },
  { id: 'carol', label: 'carol' },
  { id: 'sam', label: 'sam (support agent)', roles: ['agent'] },
  { id: 'ops', label: 'ops (operator)', roles: ['admin'] },
];
const LINK_TEXT: Record<LinkState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting… the data shown may be out of date',
};

/** Who is signed in, and a button to sign in at the identity provider or out. */
function providerUser(session: Session, box: HTMLElement): void {
  const user = session.user;
  if (!user) {
    const signIn = h('button', { type: 'button', id: 'sign-in' }, 'Sign in');
    signIn.addEventListener('click', () => void session.signIn());
    replaceChildren(box, signIn);
    return;
  }
  const signOut = h('button', { type: 'button', class: 'ghost', id: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', () => session.signOut());
  replaceChildren(box, h('span', { id: 'signed-in-user' }, user.id), signOut);
}

function userPicker(session: Session): HTMLElement {
  const box = h('div', { class: 'user' });
  const render = () => {
    if (session.kind === 'provider') {
      providerUser(session, box);
      return;
    }
    if (!session.canSignIn) {
      replaceChildren(box, h('span', { class: 'muted' }, 'Anonymous (no sign-in on this server)'));
      return;
    }
    const select = h('select', { id: 'user-picker', 'aria-label': 'Signed-in user' },
      h('option', { value: '' }, 'Signed out'),
      ...DEMO_USERS.filter((user) => (user.roles ?? ['customer']).every((r) => session.offeredRoles.includes(r)))
        .map((user) => h('option', { value: user.id }, user.label)));
    select.value = session.user?.id ?? '';
    select.addEventListener('change', () => {
      const user = DEMO_USERS.find((u) => u.id === select.value);
      if (user) void session.signIn(user.id, user.roles).catch((e) => console.info('sign-in failed:', String(e)));
      else session.signOut();
    });
    replaceChildren(box, h('label', { for: 'user-picker', class: 'visually-hidden' }, 'User'), select);
  };
  session.onChange(render);
  render();
  return box;
}

function screenPath(): string {
  const rest = window.location.pathname.replace(/^\/app\/?/, '');
  return rest.split('/')[0] ?? '';
}

async function start(): Promise<void> {
  applyTheme(currentTheme());
  const session = await startSession();
  const api = new Api(session);
  const root = document.getElementById('app')!;

  const link = h('p', { class: 'link', role: 'status', 'aria-live': 'polite', 'data-state': 'connecting' });
  api.onState((state) => {
    link.dataset.state = state;
    link.textContent = LINK_TEXT[state];
    document.body.classList.toggle('stale', state === 'reconnecting');
  });
  const themeButton = h('button', { type: 'button', class: 'ghost', id: 'theme-toggle' });
  const labelTheme = () => {
    const next = currentTheme() === 'dark' ? 'light' : 'dark';
    themeButton.textContent = next === 'light' ? '☀ Light' : '☾ Dark';
    themeButton.setAttribute('aria-label', `Switch to the ${next} theme`);
  };
  themeButton.addEventListener('click', () => {
    applyTheme(currentTheme() === 'dark' ? 'light' : 'dark', true);
    labelTheme();
  });
  labelTheme();

  const nav = h('nav', { 'aria-label': 'Screens' });
  const main = h('main', { id: 'main' });
  root.append(
    h('header', { class: 'top' },
      h('a', { href: '/app/', class: 'brand' }, 'finpulse'),
      nav,
      h('div', { class: 'tools' }, link, themeButton, userPicker(session))),
    main,
  );

  let unmount: (() => void) | null = null;
  let mountedFor = '';
  const show = () => {
    const screens = visibleScreens(session.user?.roles ?? []);
    const wanted = screens.find((s) => s.id === screenPath()) ?? screens[0];
    replaceChildren(nav, ...screens.map((s: Screen) =>
      h('a', { href: `/app/${s.id}`, 'aria-current': s === wanted ? 'page' : null, 'data-screen': s.id }, s.title)));
    const key = `${wanted?.id}:${session.user?.id ?? ''}`;
    if (!wanted || key === mountedFor) return;
    unmount?.();
    mountedFor = key;
    document.title = `${wanted.title} · finpulse`;
    main.replaceChildren();
    unmount = wanted.mount(main, { api, session });
  };
  nav.addEventListener('click', (event) => {
    const anchor = (event.target as Element).closest('a');
    if (!anchor) return;
    event.preventDefault();
    history.pushState(null, '', anchor.getAttribute('href'));
    show();
  });
  window.addEventListener('popstate', show);
  session.onChange(show);
  show();
}

void start();
