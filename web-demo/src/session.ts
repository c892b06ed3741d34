// Who the dashboard acts for. Screens see only `Session`: a token (or none), the user, and a
// change event. `DevSession` gets development tokens from the embedded server's
// `POST /dev/token`; an OAuth2/OIDC session will implement the same interface (authorization
// code + PKCE, refresh before expiry) and no screen changes.

export interface User {
  id: string;
  roles: string[];
}

export interface Session {
  /** The signed-in user, or null for anonymous use (markets stay readable). */
  readonly user: User | null;
  /** A token valid now, or null when signed out. */
  token(): Promise<string | null>;
  /** True when this server offers a way to sign in. */
  readonly canSignIn: boolean;
  /** The roles a sign-in here may ask for (development tokens grant `admin` only when set). */
  readonly offeredRoles: readonly string[];
  /** Signs in as `userId` with `roles` (default: a customer). */
  signIn(userId: string, roles?: string[]): Promise<void>;
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

export class DevSession implements Session {
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

  async signIn(userId: string, roles?: string[]): Promise<void> {
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
    // For the browser tests: how many tokens this page has been given (sign-ins and renewals).
    document.documentElement.dataset.tokensIssued = String(this.tokensIssued);
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
