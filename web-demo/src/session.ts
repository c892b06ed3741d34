// Who the dashboard acts for. Screens see only `Session`: a token (or none), the user, and a
// change event. `ProviderSession` signs in through the server's identity provider
// (`/auth/login`, authorization code + PKCE, the tokens kept by the server and the access token
// by this page, in memory only); `DevSession` gets development tokens from the embedded
// server's `POST /dev/token`. Both renew before expiry; no screen knows which one it has.

export interface User {
  id: string;
  roles: string[];
}

export interface Session {
  /** `provider`: sign-in goes to the identity provider's page; `development`: a user picker. */
  readonly kind: 'provider' | 'development';
  /** The signed-in user, or null for anonymous use (markets stay readable). */
  readonly user: User | null;
  /** A token valid now, or null when signed out. */
  token(): Promise<string | null>;
  /** True when this server offers a way to sign in. */
  readonly canSignIn: boolean;
  /** The roles a sign-in here may ask for (development tokens grant `admin` only when set). */
  readonly offeredRoles: readonly string[];
  /** Signs in: as `userId` with `roles` (development), or through the provider's page. */
  signIn(userId?: string, roles?: string[]): Promise<void>;
  signOut(): void;
  /** Called after every sign-in, sign-out and renewal (the token changed). */
  onChange(listener: () => void): void;
}

interface Issued {
  token: string;
  user: string;
  roles: string[];
  expiresAt: string;
}

const STORAGE_KEY = 'finpulse.user';
const ROLES_KEY = 'finpulse.roles';
/** Asks for tokens of this lifetime (seconds) instead of the server's default: for trying renewal. */
const TTL_KEY = 'finpulse.devTokenTtlSecs';
/** Renew when this share of the token's lifetime has passed. */
const RENEW_AT = 0.8;

/** The session of the server that signs in through its identity provider, or the development one. */
export async function startSession(): Promise<Session> {
  return (await ProviderSession.start()) ?? (await DevSession.start());
}

/** Keeps `tokensIssued` on the page for the browser tests (sign-ins and renewals). */
function countToken(count: number): void {
  document.documentElement.dataset.tokensIssued = String(count);
}

export class ProviderSession implements Session {
  readonly kind = 'provider';
  readonly canSignIn = true;
  readonly offeredRoles: readonly string[] = [];
  private issued: Issued | null = null;
  private renewal: number | undefined;
  private listeners: (() => void)[] = [];
  private tokensIssued = 0;

  /** The provider session when this server has sign-in through one (null otherwise). */
  static async start(): Promise<ProviderSession | null> {
    let state: { provider: boolean; signedIn: boolean };
    try {
      const response = await fetch('/auth/session', { credentials: 'same-origin' });
      if (!response.ok) return null;
      state = (await response.json()) as typeof state;
    } catch (error) {
      console.info('could not ask how to sign in:', String(error));
      return null;
    }
    if (!state.provider) return null;
    const session = new ProviderSession();
    if (state.signedIn) {
      const response = await fetch('/auth/token', { method: 'POST', credentials: 'same-origin' });
      if (response.ok) session.accept((await response.json()) as Issued);
    }
    return session;
  }

  get user(): User | null {
    return this.issued ? { id: this.issued.user, roles: this.issued.roles } : null;
  }

  async token(): Promise<string | null> {
    if (this.issued && Date.parse(this.issued.expiresAt) - Date.now() < 5_000) await this.renew();
    return this.issued?.token ?? null;
  }

  /** Goes to the provider's sign-in page, and back to this page after it. */
  async signIn(): Promise<void> {
    const back = window.location.pathname + window.location.search;
    window.location.assign(`/auth/login?return=${encodeURIComponent(back)}`);
  }

  /** Ends the session here and at the provider (its logout page comes back to the dashboard). */
  signOut(): void {
    window.clearTimeout(this.renewal);
    this.issued = null;
    this.emit();
    void fetch('/auth/logout', { method: 'POST', credentials: 'same-origin' })
      .then((response) => response.json() as Promise<{ logoutUrl: string | null }>)
      .then(({ logoutUrl }) => {
        if (logoutUrl) window.location.assign(logoutUrl);
      })
      .catch((error) => console.info('sign-out at the provider failed:', String(error)));
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private accept(issued: Issued): void {
    this.issued = issued;
    this.tokensIssued += 1;
    countToken(this.tokensIssued);
    window.clearTimeout(this.renewal);
    const lifetime = Date.parse(issued.expiresAt) - Date.now();
    this.renewal = window.setTimeout(() => void this.renew(), Math.max(1_000, lifetime * RENEW_AT));
    this.emit();
  }

  private async renew(): Promise<void> {
    if (!this.issued) return;
    try {
      const response = await fetch('/auth/token', { method: 'POST', credentials: 'same-origin' });
      if (response.status === 401) {
        // The session ended (signed out elsewhere, or at the provider): anonymous from now on.
        window.clearTimeout(this.renewal);
        this.issued = null;
        this.emit();
        return;
      }
      if (!response.ok) throw new Error(`renewal answered ${response.status}`);
      const issued = (await response.json()) as Issued;
      if (issued.token === this.issued?.token) {
        // Not renewed yet (the provider was slow): ask again shortly.
        this.renewal = window.setTimeout(() => void this.renew(), 5_000);
        return;
      }
      this.accept(issued);
    } catch (error) {
      console.info('token renewal failed, retrying:', String(error));
      this.renewal = window.setTimeout(() => void this.renew(), 5_000);
    }
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

export class DevSession implements Session {
  readonly kind = 'development';
  private issued: Issued | null = null;
  private renewal: number | undefined;
  private listeners: (() => void)[] = [];
  private tokensIssued = 0;
  canSignIn = true;
  offeredRoles: readonly string[] = [];

  /** Restores the user picked last time, when the server still hands out development tokens. */
  static async start(): Promise<DevSession> {
    const session = new DevSession();
    try {
      const offer = await fetch('/dev/token');
      if (offer.ok) session.offeredRoles = ((await offer.json()) as { roles: string[] }).roles;
      else session.canSignIn = false;
    } catch (error) {
      console.info('could not ask for development sign-in:', String(error));
      session.canSignIn = false;
    }
    if (!session.canSignIn) return session;
    const remembered = localStorage.getItem(STORAGE_KEY);
    try {
      const roles = JSON.parse(localStorage.getItem(ROLES_KEY) ?? 'null') as string[] | null;
      if (remembered) await session.signIn(remembered, roles ?? undefined);
    } catch (error) {
      if (error instanceof SignInUnavailable) session.canSignIn = false;
      else console.info('could not restore the previous user:', String(error));
    }
    return session;
  }

  get user(): User | null {
    return this.issued ? { id: this.issued.user, roles: this.issued.roles } : null;
  }

  async token(): Promise<string | null> {
    if (this.issued && Date.parse(this.issued.expiresAt) - Date.now() < 5_000) {
      await this.renew();
    }
    return this.issued?.token ?? null;
  }

  async signIn(userId?: string, roles?: string[]): Promise<void> {
    if (!userId) throw new Error('a development sign-in names its user');
    const response = await fetch('/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        user: userId,
        ...(roles ? { roles } : {}),
        ...(localStorage.getItem(TTL_KEY) ? { ttlSecs: Number(localStorage.getItem(TTL_KEY)) } : {}),
      }),
    });
    if (response.status === 404) {
      // Not the embedded default: no development sign-in here (an identity provider's will be).
      this.canSignIn = false;
      this.emit();
      throw new SignInUnavailable();
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ?? `sign-in failed (${response.status})`);
    this.accept(body as Issued);
    localStorage.setItem(STORAGE_KEY, userId);
    if (roles) localStorage.setItem(ROLES_KEY, JSON.stringify(roles));
    else localStorage.removeItem(ROLES_KEY);
  }

  signOut(): void {
    this.issued = null;
    window.clearTimeout(this.renewal);
    localStorage.removeItem(STORAGE_KEY);
    localStorage.removeItem(ROLES_KEY);
    this.emit();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private accept(issued: Issued): void {
    this.issued = issued;
    this.tokensIssued += 1;
    countToken(this.tokensIssued);
    window.clearTimeout(this.renewal);
    const issuedAt = Date.now();
    const lifetime = Date.parse(issued.expiresAt) - issuedAt;
    this.renewal = window.setTimeout(() => void this.renew(), Math.max(1_000, lifetime * RENEW_AT));
    this.emit();
  }

  private async renew(): Promise<void> {
    if (!this.issued) return;
    try {
      await this.signIn(this.issued.user, this.issued.roles);
    } catch (error) {
      console.info('token renewal failed, retrying:', String(error));
      this.renewal = window.setTimeout(() => void this.renew(), 5_000);
    }
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

/** This server issues no development tokens (not the embedded default). */
export class SignInUnavailable extends Error {
  constructor() {
    super('this server has no development sign-in');
  }
}
