/** What an {@link IntegrationTokenRefresher} is handed: the grant, with its refresh token decrypted. */
export interface IntegrationTokenRefreshRequest {
  readonly organizationId: string;
  readonly userId: string;
  readonly integration: string;
  readonly refreshToken: string;
  readonly scopes: readonly string[];
}

/** What a refresher answers: the provider's new tokens (a missing `refreshToken` keeps the current one). */
export interface IntegrationTokenRefreshResult {
  readonly accessToken: string;
  readonly refreshToken?: string | null;
  readonly expiresAt: Date | null;
  readonly tokenType?: string;
  readonly scopes?: readonly string[];
}

/** Calls the provider's token endpoint (OAuth 2.0 `grant_type=refresh_token`, RFC 6749 §6); supplied by the application per integration. */
export type IntegrationTokenRefresher = (request: IntegrationTokenRefreshRequest) => Promise<IntegrationTokenRefreshResult>;

/** Refresh on read: the refreshers by integration name, and when and how long they may run. */
export interface IntegrationTokenOptions {
  readonly refreshers: Readonly<Record<string, IntegrationTokenRefresher>>;
  /** A token expiring within this many seconds is refreshed when read (default 300). */
  readonly refreshWithinSeconds: number;
  /** Bound on one refresher call; the row stays locked meanwhile (default 10 000). */
  readonly refreshTimeoutMs: number;
}

export const DEFAULT_INTEGRATION_TOKEN_OPTIONS: IntegrationTokenOptions = Object.freeze({
  refreshers: {},
  refreshWithinSeconds: 300,
  refreshTimeoutMs: 10_000,
});
