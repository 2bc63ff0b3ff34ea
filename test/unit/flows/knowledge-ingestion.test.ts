import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError, ValidationError } from '../../../src/errors.js';
import { failureReason } from '../../../src/flows/knowledge/failure-reason.js';
import { ingestionJobId } from '../../../src/flows/knowledge/ingestion-queue.js';
import { ingestionWorkerContext, INGESTION_WORKER_USER_ID } from '../../../src/flows/knowledge/ingestion-worker-context.js';
import { isAllowed } from '../../../src/tenancy/permission-policy.js';

describe('ingestionJobId', () => {
  it('is <documentId>-v<version>, with an optional run suffix', () => {
    expect(ingestionJobId('0b6f0f3e-4a52-5c4e-9d43-6f0b9a1c2e71', 3)).toBe('0b6f0f3e-4a52-5c4e-9d43-6f0b9a1c2e71-v3');
    expect(ingestionJobId('doc_1', 1, 'rabc')).toBe('doc_1-v1-rabc');
    expect(() => ingestionJobId('doc', 1, 'a:b')).toThrow(ValidationError);
  });

  it('replaces a document id a job id cannot hold by a stable UUID', () => {
    const id = ingestionJobId('notes:2024 draft', 2);
    expect(id).toMatch(/^[0-9a-f-]{36}-v2$/);
    expect(id).not.toContain(':');
    expect(ingestionJobId('notes:2024 draft', 2)).toBe(id);
  });
});

describe('failureReason', () => {
  it('keeps the error code and first line, without credentials or key-like values', () => {
    const mapped = new StoreUnavailableError('qdrant', 'connection refused', { url: 'http://127.0.0.1:6333' });
    expect(failureReason(mapped)).toBe(`STORE_UNAVAILABLE: ${mapped.message}`);
    const raw = failureReason(new TypeError('fetch https://u:hunter2@api.example/v1 failed api_key=sk-live-1 Authorization: Bearer abc.def\nstack line'));
    expect(raw).toMatch(/^TypeError: fetch/);
    for (const secret of ['hunter2', 'sk-live-1', 'abc.def', 'stack line']) expect(raw).not.toContain(secret);
  });
});

describe('ingestionWorkerContext', () => {
  it('allows knowledge reads and writes in the job organization and nothing else', () => {
    const ctx = ingestionWorkerContext('6f0b9a1c-2e71-4c4e-9d43-5b0f6f3e4a52');
    expect(ctx.userId).toBe(INGESTION_WORKER_USER_ID);
    expect(isAllowed(ctx, 'knowledge:write')).toBe(true);
    expect(isAllowed(ctx, 'knowledge:read')).toBe(true);
    expect(isAllowed(ctx, 'conversations:read')).toBe(false);
    expect(isAllowed(ctx, 'api_keys:manage')).toBe(false);
  });
});
