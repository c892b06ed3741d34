// The screens of the dashboard. Navigation shows, in the order of `NAV_ORDER`, every screen
// registered here that the signed-in user may see; a domain adds its screen when its backend
// lands (see web-demo/README.md), so nothing is shown that would be an empty placeholder.

import type { Api } from '../api';
import type { Session } from '../session';
import { admin } from './admin';
import { experiments } from './experiments';
import { forYou } from './for-you';
import { markets } from './markets';
import { support } from './support';

export interface ScreenContext {
  api: Api;
  session: Session;
}

export interface Screen {
  /** Path below /app/ and the key in `NAV_ORDER`. */
  id: string;
  title: string;
  /** Roles of which the user needs one (unset: everyone, signed in or not). */
  roles?: string[];
  /** Builds the screen into `root`; returns what tears it down (subscriptions, timers). */
  mount(root: HTMLElement, context: ScreenContext): () => void;
}

/** Where each screen goes in the navigation, landed or not. */
export const NAV_ORDER = ['markets', 'for-you', 'news', 'portfolio', 'support', 'experiments', 'admin'] as const;

export const SCREENS: Screen[] = [markets, forYou, support, experiments, admin];

export function visibleScreens(roles: string[]): Screen[] {
  return NAV_ORDER.flatMap((id) => SCREENS.filter((s) => s.id === id)).filter(
    (s) => !s.roles || s.roles.some((role) => roles.includes(role)),
  );
}
