import { inject } from 'vitest';
import type { RunResourceName } from './run-resources.js';

/**
 * A resource of the whole run (run-resources.ts), made by the run's main process when a file
 * first asks for it; resolves with its value once it is ready, or fails with why not.
 */
export async function runResource(name: RunResourceName): Promise<string> {
  const response = await fetch(`${inject('runResources')}${name}`);
  const text = await response.text();
  if (!response.ok) throw new Error(text);
  return text;
}
