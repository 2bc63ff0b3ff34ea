import { randomBytes } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import { expect } from 'vitest';
import type { QdrantTarget } from './qdrant-target.js';

/** A collection name no other file or run uses. */
export function uniqueCollection(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A real client for the target; the key goes in a header to skip the client's plain-HTTP warning. */
export function clientFor(target: QdrantTarget): QdrantClient {
  return new QdrantClient({ url: target.url, ...(target.apiKey ? { headers: { 'api-key': target.apiKey } } : {}) });
}

interface ClientApiError {
  status: number;
  data: unknown;
}

function isApiError(error: unknown): error is Error & ClientApiError {
  return error instanceof Error && typeof (error as Partial<ClientApiError>).status === 'number' && 'data' in error;
}

/**
 * Awaits a client call that must fail with the given HTTP status, and returns
 * Qdrant's error text (`error.data.status.error`) for further assertions.
 */
export async function expectQdrantError(call: Promise<unknown>, status: number): Promise<string> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isApiError(error)) throw new Error(`expected an ApiError with status ${status}, got ${String(error)}`);
  expect(error.status).toBe(status);
  const data = error.data as { status?: { error?: unknown } } | string | undefined;
  if (typeof data === 'string') return data;
  const text = data?.status?.error;
  expect(typeof text).toBe('string');
  return text as string;
}

/** The target, a client and the collections one test file created (the `qdrant` fixture deletes them at the end). */
export interface QdrantFixture {
  readonly target: QdrantTarget;
  readonly client: QdrantClient;
  /** Remembers a collection for deletion when the file ends; returns its name. */
  track(name: string): string;
}

/**
 * For a feature the stand-in refuses on purpose: against a real server, run
 * `realAnswer` on the call's result; against the stand-in, assert the refusal
 * (HTTP 400 with Qdrant's JSON error body naming the unsupported feature).
 */
export async function realAnswerOrRefusal(target: QdrantTarget, call: () => Promise<unknown>, realAnswer: (result: unknown) => void): Promise<void> {
  if (target.backend === 'real') {
    realAnswer(await call());
    return;
  }
  expect(await expectQdrantError(call(), 400)).toContain('the Qdrant stand-in does not support');
}
