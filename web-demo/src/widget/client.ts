// The widget's link to finpulse: typed requests over HTTP and subscriptions over WebSocket
// (graphql-transport-ws), both to the server the embedding page named, both carrying a token.
//
// The widget runs on someone else's page, so it takes nothing from the dashboard's session: a
// token comes from the embedding page itself (`FinpulseChat.mount({ getToken })`: the page
// already holds its user's access token from the same identity provider), from the host's own
// endpoint (`data-token-url`, called with the page's cookies: the host knows who is signed in
// and mints a finpulse token for them), or, on the embedded default's demo, from
// `POST /dev/token` for `data-dev-user`. Tokens are renewed before they
// expire; a new token reconnects the socket, and the subscriptions resume by themselves.

import { createClient, type Client } from 'graphql-ws';
import { ApiError, toError, type WireError } from '../errors';

export { ApiError };
import type { TypedDocument } from '../generated/operations';


/** What the embedding page's `getToken` may answer: the token, or the token with its expiry. */
export type HostToken = string | { token: string; expiresAt?: string; user?: string };

/** Where tokens come from. */
export type TokenSource =
  | { kind: 'host'; url: string }
  | { kind: 'dev'; user: string }
  | { kind: 'page'; getToken: () => Promise<HostToken> | HostToken };

/** The claims of a JWT, read without verifying (the server verifies; this only schedules renewal). */
function unverifiedClaims(token: string): { exp?: number; sub?: string } {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(json) as { exp?: number; sub?: string };
  } catch {
    return {};
  }
}

/** The page's answer as an issued token: its expiry from `expiresAt`, else the JWT's `exp`, else a minute. */
function fromPage(answer: HostToken): Issued {
  const given = typeof answer === 'string' ? { token: answer } : answer;
  if (typeof given?.token !== 'string' || given.token === '') {
    throw new ApiError('getToken() answered no token', 'UNAUTHENTICATED');
  }
  const claims = unverifiedClaims(given.token);
  const expiresAt =
    given.expiresAt ?? (claims.exp ? new Date(claims.exp * 1000).toISOString() : new Date(Date.now() + 60_000).toISOString());
  return { token: given.token, expiresAt, user: given.user ?? claims.sub };
}

interface Issued {
  token: string;
  user?: string;
  expiresAt: string;
}

export class WidgetClient {
  private issued: Issued | null = null;
  private pending: Promise<Issued> | null = null;
  private socket: Client | null = null;
  private connected = false;
  private connectedWaiters: (() => void)[] = [];
  private reconnectListeners: (() => void)[] = [];
  private stateListeners: ((online: boolean) => void)[] = [];
  private everConnected = false;

  constructor(
    private readonly server: URL,
    private readonly tokens: TokenSource,
  ) {}

  /** The signed-in user, once a token was issued (it keys the remembered conversation). */
  get user(): string | undefined {
    return this.issued?.user ?? (this.tokens.kind === 'dev' ? this.tokens.user : undefined);
  }

  /** Gets the first token (after which `user` is known). */
  async signIn(): Promise<void> {
    await this.token();
  }

  async request<R, V>(document: TypedDocument<R, V>, variables: V): Promise<R> {
    const { token } = await this.token();
    let response: Response;
    try {
      response = await fetch(new URL('graphql', this.server), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ query: document.query, operationName: document.operationName, variables }),
      });
    } catch {
      throw new ApiError('the support service cannot be reached', 'OFFLINE');
    }
    let body: { data?: R | null; errors?: WireError[] };
    try {
      body = await response.json();
    } catch {
      throw new ApiError(`the support service answered ${response.status}`, undefined);
    }
    if (body.errors?.length) throw toError(body.errors);
    if (!body.data) throw new ApiError('no data in the answer', undefined);
    return body.data;
  }

  /** Follows `document` until the returned function is called. */
  subscribe<R, V>(document: TypedDocument<R, V>, variables: V, onData: (data: R) => void, onError: (e: ApiError) => void): () => void {
    return this.link().subscribe<R>(
      { query: document.query, operationName: document.operationName, variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length) onError(toError(result.errors as unknown as WireError[]));
          if (result.data) onData(result.data);
        },
        error: (error) => {
          if (Array.isArray(error)) onError(toError(error as WireError[]));
          else onError(new ApiError(String((error as Error)?.message ?? error), undefined));
        },
        complete: () => {},
      },
    );
  }

  /** Resolves once the socket is open and acknowledged, so a subscription sent now is live. */
  whenConnected(): Promise<void> {
    this.link();
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  /** Runs after the socket came back from a drop (to read what was missed). */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  /** Told true when the socket is up, false while it is away. */
  onState(listener: (online: boolean) => void): void {
    this.stateListeners.push(listener);
  }

  close(): void {
    void this.socket?.dispose();
    this.socket = null;
  }

  private link(): Client {
    if (this.socket) return this.socket;
    const url = new URL('graphql', this.server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.socket = createClient({
      url: url.href,
      lazy: false,
      keepAlive: 10_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: (retries) =>
        new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** retries) * (0.75 + Math.random() / 2))),
      connectionParams: async () => ({ Authorization: `Bearer ${(await this.token()).token}` }),
      on: {
        connected: () => {
          const reconnected = this.everConnected;
          this.connected = true;
          this.everConnected = true;
          for (const resolve of this.connectedWaiters.splice(0)) resolve();
          for (const listener of this.stateListeners) listener(true);
          if (reconnected) for (const listener of this.reconnectListeners) listener();
        },
        closed: () => {
          this.connected = false;
          if (this.everConnected) for (const listener of this.stateListeners) listener(false);
        },
      },
    });
    return this.socket;
  }

  /** A token valid for at least a few more seconds. */
  private async token(): Promise<Issued> {
    if (this.issued && Date.parse(this.issued.expiresAt) - Date.now() > 5_000) return this.issued;
    // One request at a time: the socket and a send may ask together.
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async fetchToken(): Promise<Issued> {
    if (this.tokens.kind === 'page') return this.issue(fromPage(await this.tokens.getToken()));
    const response =
      this.tokens.kind === 'dev'
        ? await fetch(new URL('dev/token', this.server), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ user: this.tokens.user }),
          })
        : await fetch(this.tokens.url, { credentials: 'include', headers: { accept: 'application/json' } });
    if (!response.ok) throw new ApiError(`sign-in for the chat failed (${response.status})`, 'UNAUTHENTICATED');
    const issued = (await response.json()) as Issued;
    if (typeof issued.token !== 'string' || typeof issued.expiresAt !== 'string') {
      throw new ApiError('the token endpoint answered without `token` and `expiresAt`', 'UNAUTHENTICATED');
    }
    return this.issue(issued);
  }

  private issue(issued: Issued): Issued {
    const renewed = this.tokensIssued > 0 && issued.token !== this.lastToken;
    this.tokensIssued += 1;
    this.issued = issued;
    this.lastToken = issued.token;
    // The socket's token is its connection's: a renewed one takes a reconnect to reach it.
    if (renewed) this.socket?.terminate();
    this.scheduleRenewal();
    return issued;
  }

  private renewal: number | undefined;
  private tokensIssued = 0;
  private lastToken: string | null = null;

  private scheduleRenewal(): void {
    window.clearTimeout(this.renewal);
    if (!this.issued) return;
    const lifetime = Date.parse(this.issued.expiresAt) - Date.now();
    this.renewal = window.setTimeout(() => {
      this.issued = null;
      void this.token().catch((error) => console.info('finpulse chat: token renewal failed:', String(error)));
    }, Math.max(1_000, lifetime * 0.8));
  }
}
