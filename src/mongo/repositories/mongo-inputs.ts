import { z } from 'zod';

/** Shared zod pieces for MongoDB repository inputs. */
export const mongoId = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
export const pageLimit = (max: number, fallback: number) => z.number().int('must be an integer').min(1).max(max).default(fallback);
