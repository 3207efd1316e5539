import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { GatewayError } from '../../errors/gateway-error.js';
import { normalHost } from '../../utils/hosts.js';
import {
  type IpRange,
  inRange,
  isPublicAddress,
  parseIp,
  parseRange,
} from '../../utils/ip-ranges.js';

/** Why an address may not be called; thrown at connect time, recorded on the attempt. */
export class RefusedAddressError extends Error {
  readonly code = 'WEBHOOK_ADDRESS_REFUSED';
}

type Resolve = (hostname: string) => Promise<LookupAddress[]>;

const systemResolve: Resolve = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  );

const refused = (message: string) =>
  new GatewayError('webhook_url_refused', { message, param: 'url' });

export interface UrlGuardOptions {
  /** WEBHOOK_ALLOWED_HOSTS: hostnames, addresses or CIDR ranges that may be private. */
  allowedHosts?: readonly string[];
  /** How long resolving a host may take at registration. */
  resolveTimeoutMs?: number;
}

/**
 * Keeps webhooks off the gateway's own network (SSRF): a target must be http(s), and every
 * address its host resolves to must be public, unless the operator's allow-list names the
 * host or the address. Checked at registration, and again at each connection through
 * `lookup`, which hands the socket only addresses it has checked, so a DNS answer that
 * changes between the two (rebinding) cannot reach a private address.
 */
export class UrlGuard {
  private readonly hosts = new Set<string>();
  private readonly ranges: IpRange[] = [];

  constructor(private readonly options: UrlGuardOptions = {}) {
    for (const entry of options.allowedHosts ?? []) {
      const range = parseRange(entry);
      if (range !== null) this.ranges.push(range);
      else this.hosts.add(normalHost(entry));
    }
  }

  /** Whether a connection to this address is allowed. */
  addressAllowed(address: string): boolean {
    const ip = parseIp(address);
    if (ip === null) return false;
    return isPublicAddress(ip) || this.ranges.some((range) => inRange(ip, range));
  }

  private hostListed(host: string): boolean {
    return this.hosts.has(normalHost(host));
  }

  /** The URL if it may be registered; 400 `webhook_url_refused` saying why otherwise. */
  async check(text: string): Promise<URL> {
    const url = this.parse(text);
    const host = normalHost(url.hostname);
    if (this.hostListed(host) || parseIp(host) !== null) return url;
    let addresses: LookupAddress[];
    try {
      addresses = await withTimeout(systemResolve(host), this.options.resolveTimeoutMs ?? 5000);
    } catch {
      throw refused(`The webhook URL's host '${host}' could not be resolved.`);
    }
    // The addresses stay unnamed: a tenant should not learn the internal network's layout.
    if (addresses.length === 0 || !addresses.every((item) => this.addressAllowed(item.address)))
      throw refused(
        `The webhook URL's host '${host}' resolves to an address that is not public (private, loopback, link-local or reserved). Ask the operator to allow it in WEBHOOK_ALLOWED_HOSTS.`,
      );
    return url;
  }

  /**
   * The checks that need no DNS: the scheme, and an address written in the URL, which a
   * socket connects to without any lookup. Hostnames are checked by `lookup`.
   */
  parse(text: string): URL {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw refused('The webhook URL is not a valid URL.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw refused('The webhook URL must start with https:// or http://.');
    const host = normalHost(url.hostname);
    if (!this.hostListed(host) && parseIp(host) !== null && !this.addressAllowed(host))
      throw refused(
        `The webhook URL's address ${host} is not public (private, loopback, link-local or reserved). Ask the operator to allow it in WEBHOOK_ALLOWED_HOSTS.`,
      );
    return url;
  }

  /** For the HTTP client's sockets: resolves as usual, then refuses unchecked addresses. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const allowed =
        this.hostListed(hostname) || addresses.every((item) => this.addressAllowed(item.address));
      if (!allowed || addresses.length === 0) {
        const reason = new RefusedAddressError(
          `refused: ${hostname} resolves to an address that is not public`,
        );
        return callback(reason, []);
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses as [LookupAddress];
      callback(null, first.address, first.family);
    });
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
