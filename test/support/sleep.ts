/** Resolves after `ms` milliseconds (a pause between steps of a scenario, never a wait for a condition). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
