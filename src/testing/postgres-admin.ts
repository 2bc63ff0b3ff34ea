import pg from 'pg';

/** `adminUrl` with its database (and optionally its user, without password) replaced. */
export function databaseUrl(adminUrl: string, database: string, user?: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  if (user) {
    url.username = user;
    url.password = '';
  }
  return url.toString();
}

/**
 * Runs `fn` on a short-lived client of the admin (owner) connection, for
 * CREATE/DROP DATABASE, which cannot run in a pool's transaction.
 * @throws the driver's error when the server cannot be reached within 5 s
 */
export async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
