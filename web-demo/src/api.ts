// The one way screens talk to finpulse: typed queries and mutations over HTTP, typed
// subscriptions over WebSocket (graphql-transport-ws), both carrying the session's token.
//
// The socket reconnects forever with backoff. Its state is published (`connecting`, `live`,
// `reconnecting`) so the shell can say when the screen may be stale; after a reconnect every
// `onReconnect` listener runs so a screen can fetch what it missed (graphql-ws re-subscribes
// the live subscriptions itself).

import { createClient, type Client } from 'graphql-ws';
import type { TypedDocument } from './generated/operations';
import type { Session } from './session';
import { ApiError, toError, type WireError } from './errors';

export { ApiError };


export type LinkState = 'connecting' | 'live' | 'reconnecting';

export class Api {
  private client: Client;
  private state: LinkState = 'connecting';
  private stateListeners: ((state: LinkState) => void)[] = [];
  private reconnectListeners: (() => void)[] = [];
  private connectedBefore = false;

  constructor(private readonly session: Session) {
    this.client = this.connect();
    // A new token (sign-in, sign-out, renewal) must reach the server: reconnect with it.
    session.onChange(() => this.client.terminate());
  }

  get linkState(): LinkState {
    return this.state;
  }

  onState(listener: (state: LinkState) => void): void {
    this.stateListeners.push(listener);
    listener(this.state);
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.push(listener);
    return () => {
      this.reconnectListeners = this.reconnectListeners.filter((l) => l !== listener);
    };
  }

  async request<R, V>(document: TypedDocument<R, V>, variables: V): Promise<R> {
    const token = await this.session.token();
    const response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query: document.query, operationName: document.operationName, variables }),
    });
    let body: { data?: R | null; errors?: WireError[] };
    try {
      body = await response.json();
    } catch {
      throw new ApiError(`the server answered ${response.status}`, undefined);
    }
    if (body.errors?.length) throw toError(body.errors);
    if (!body.data) throw new ApiError('no data in the answer', undefined);
    return body.data;
  }

  /** Follows `document` until the returned function is called. */
  subscribe<R, V>(
    document: TypedDocument<R, V>,
    variables: V,
    onData: (data: R) => void,
    onError: (error: ApiError) => void = (e) => console.info('subscription ended:', e.message),
  ): () => void {
    return this.client.subscribe<R>(
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

  private setState(state: LinkState): void {
    if (state === this.state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  private connect(): Client {
    const url = new URL('/graphql', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return createClient({
      url: url.href,
      lazy: false,
      keepAlive: 10_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      // 0.5 s, 1 s, 2 s … up to 10 s, with jitter so replicas are not hit at once.
      retryWait: (retries) =>
        new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** retries) * (0.75 + Math.random() / 2))),
      connectionParams: async () => {
        const token = await this.session.token();
        return token ? { Authorization: `Bearer ${token}` } : {};
      },
      on: {
        connecting: () => this.setState(this.connectedBefore ? 'reconnecting' : 'connecting'),
        connected: () => {
          const reconnected = this.connectedBefore;
          this.connectedBefore = true;
          this.setState('live');
          if (reconnected) for (const listener of this.reconnectListeners) listener();
        },
        closed: () => {
          if (this.connectedBefore) this.setState('reconnecting');
        },
      },
    });
  }
}
