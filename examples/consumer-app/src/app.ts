import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  AUTH_NOTIFIER,
  createPlatform,
  EmailVerification,
  expectSignedIn,
  PasswordSignIn,
  PlatformError,
  SessionRevoker,
  SessionValidator,
  type Config,
  type Platform,
} from 'platform-data';
import { signAccessToken, verifyAccessToken } from './access-token.ts';
import { OutboxNotifier } from './outbox-notifier.ts';
import { signUp } from './sign-up.ts';

export interface App {
  readonly server: Server;
  readonly platform: Platform;
  readonly notifier: OutboxNotifier;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  close(): Promise<void>;
}

/** HTTP status of each platform-data error code the routes can meet. */
const STATUS: Record<string, number> = {
  VALIDATION_FAILED: 400,
  INVALID_CREDENTIALS: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  TOKEN_REUSED: 401,
  TOKEN_CONSUMED: 401,
  ACCOUNT_STATE: 403,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  STORE_UNAVAILABLE: 503,
};

async function body(req: IncomingMessage): Promise<Record<string, string>> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? (JSON.parse(text) as Record<string, string>) : {};
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

/**
 * Starts the service on `port` (0: any free port) over a platform built from `config`:
 * POST /sign-up, POST /verify-email, POST /login, GET /me, POST /logout.
 */
export async function startApp(config: Config, options: { port?: number; tokenSecret: string }): Promise<App> {
  const platform = createPlatform(config, { stores: ['postgres', 'redis'] });
  const notifier = new OutboxNotifier();
  platform.container.registerInstance(AUTH_NOTIFIER, notifier);
  await platform.start();
  const revoker = platform.resolve(SessionRevoker);
  const signIn = platform.resolve(PasswordSignIn);
  const validator = platform.resolve(SessionValidator);

  const routes: Record<string, (req: IncomingMessage) => Promise<[number, unknown]>> = {
    'POST /sign-up': async (req) => {
      const { email = '', password = '', organizationName = '' } = await body(req);
      await signUp(platform, { email, password, organizationName });
      return [202, { status: 'check your email' }];
    },
    'POST /verify-email': async (req) => {
      const user = await platform.resolve(EmailVerification).verifyEmail((await body(req)).token ?? '');
      return [200, { userId: user.id, status: user.status }];
    },
    'POST /login': async (req) => {
      const { email = '', password = '' } = await body(req);
      const session = expectSignedIn(await signIn.login(email, password, { ip: req.socket.remoteAddress }));
      return [200, { accessToken: signAccessToken({ userId: session.user.id, jti: session.accessTokenJti }, options.tokenSecret), sessionId: session.sessionId }];
    },
    'GET /me': async (req) => {
      const claims = verifyAccessToken((req.headers.authorization ?? '').replace(/^Bearer /, ''), options.tokenSecret);
      if (!claims) return [401, { error: 'TOKEN_INVALID' }];
      const session = await validator.validate(claims);
      return [200, { userId: session.userId, organizationId: session.organizationId, sessionId: session.sessionId }];
    },
    'POST /logout': async (req) => {
      await revoker.logout((await body(req)).sessionId ?? '');
      return [204, null];
    },
  };

  const server = createServer((req, res) => {
    const route = routes[`${req.method} ${req.url}`];
    if (!route) return send(res, 404, { error: 'NOT_FOUND' });
    route(req).then(
      ([status, value]) => (status === 204 ? res.writeHead(204).end() : send(res, status, value)),
      (error: unknown) => {
        if (error instanceof PlatformError) return send(res, STATUS[error.code] ?? 500, { error: error.code, message: error.message });
        send(res, 500, { error: 'INTERNAL' });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    server,
    platform,
    notifier,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await platform.stop();
    },
  };
}
