// GraphQL errors as the dashboard and the chat widget see them: the first error's message and
// its `extensions.code` (`BAD_USER_INPUT`, `RATE_LIMITED`, `NOT_FOUND`, …).

/** A GraphQL error with its `extensions.code`. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** An error as it comes over the wire. */
export interface WireError {
  message: string;
  extensions?: { code?: string };
}

export function toError(errors: readonly WireError[]): ApiError {
  const first = errors[0];
  return new ApiError(first?.message ?? 'request failed', first?.extensions?.code);
}
