import { z } from 'zod';

/**
 * Result schema of statements that return no rows (UPDATE/DELETE without
 * RETURNING), so every query still goes through `sql.type` and a statement that
 * unexpectedly returns rows fails loudly.
 */
export const noRows = z.never();
