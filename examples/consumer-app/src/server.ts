import { loadConfig } from 'platform-data';
import { startApp } from './app.ts';

// DATABASE_URL, REDIS_URL, PLATFORM_ENCRYPTION_KEYS, … as in platform-data's README; APP_TOKEN_SECRET signs access tokens.
const secret = process.env.APP_TOKEN_SECRET;
if (!secret) throw new Error('set APP_TOKEN_SECRET (32 random bytes, e.g. `openssl rand -base64 32`)');
const app = await startApp(loadConfig(process.env), { port: Number(process.env.PORT ?? 3000), tokenSecret: secret });
process.stdout.write(`listening on ${app.url}\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
