// Dark and light themes: the system's choice until the user picks one, remembered after.

const KEY = 'finpulse.theme';
export type Theme = 'dark' | 'light';
const listeners: ((theme: Theme) => void)[] = [];

export function currentTheme(): Theme {
  const stored = localStorage.getItem(KEY);
  if (stored === 'dark' || stored === 'light') return stored;
  return window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

export function applyTheme(theme: Theme, remember = false): void {
  document.documentElement.dataset.theme = theme;
  if (remember) localStorage.setItem(KEY, theme);
  for (const listener of listeners) listener(theme);
}

export function onTheme(listener: (theme: Theme) => void): () => void {
  listeners.push(listener);
  return () => listeners.splice(listeners.indexOf(listener), 1);
}

/** A colour of the current theme, from the CSS custom property `name`. */
export function themeColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
