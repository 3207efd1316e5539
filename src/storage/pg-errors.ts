/**
 * PostgreSQL errors that say the database went away under a query, not that the query was
 * wrong: an operator or a tenant move ended the session (57P01), the server is shutting down
 * or starting (57P02, 57P03), the database was dropped (57P04), or it no longer takes new
 * connections (55000, as a move's seal leaves the old database). The transaction did not
 * commit; the same request sent again finds the database where it is now.
 */
const GONE_CODES = new Set(['57P01', '57P02', '57P03', '57P04']);

export function isDatabaseGone(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string') return false;
  if (GONE_CODES.has(code)) return true;
  return (
    code === '55000' &&
    typeof message === 'string' &&
    message.includes('is not currently accepting connections')
  );
}
