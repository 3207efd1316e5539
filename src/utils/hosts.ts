import { parseRange } from './ip-ranges.js';

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/;

/** Lowercase, without IPv6 brackets or a trailing dot: how hosts are compared. */
export function normalHost(host: string): string {
  return host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/** A WEBHOOK_ALLOWED_HOSTS entry: a hostname, an IP address or a CIDR range. */
export function isAllowListEntry(entry: string): boolean {
  return parseRange(entry) !== null || HOSTNAME.test(normalHost(entry));
}
