import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_DEFAULTS, loadConfig } from '../../src/index.js';

interface ComposeService {
  image?: string;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test?: unknown };
  environment?: Record<string, string>;
}

describe('docker-compose.yml', () => {
  it('defines the four stores with healthchecks, named volumes and the ports of the config defaults', async () => {
    const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
      services: Record<string, ComposeService>;
      volumes: Record<string, unknown>;
    };
    expect(Object.keys(compose.services).sort()).toEqual(['mongo', 'postgres', 'qdrant', 'redis']);
    const config = loadConfig({});
    const expectedPorts: Record<string, string> = {
      postgres: new URL(config.postgres.url ?? '').port,
      mongo: new URL(config.mongo.uri).port,
      qdrant: new URL(config.qdrant.url).port,
      redis: new URL(config.redis.url).port,
    };
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck?.test, name).toBeDefined();
      expect(
        service.ports?.map((p) => p.split(':')[0]),
        name,
      ).toContain(expectedPorts[name]);
      const volume = service.volumes?.[0]?.split(':')[0];
      expect(volume && compose.volumes[volume] !== undefined, `${name} named volume`).toBe(true);
    }
    const pgMajor = Number(/postgres:(\d+)/.exec(compose.services.postgres?.image ?? '')?.[1]);
    expect(pgMajor).toBeGreaterThanOrEqual(16);
    expect(compose.services.mongo?.image).toMatch(/^mongo:7/);
    expect(compose.services.redis?.image).toMatch(/^redis:7/);
    const pg = compose.services.postgres?.environment ?? {};
    expect(`postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@127.0.0.1:5432/${pg.POSTGRES_DB}`).toBe(CONFIG_DEFAULTS.DATABASE_URL);
  });
});
