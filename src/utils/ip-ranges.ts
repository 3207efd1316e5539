import { isIP } from 'node:net';

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

export interface IpRange {
  base: IpBytes;
  prefix: number;
}

function ipv4Bytes(text: string): IpBytes | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((part) => (/^\d{1,3}$/.test(part) ? Number(part) : Number.NaN));
  if (bytes.some((byte) => !(byte >= 0 && byte <= 255))) return null;
  return Uint8Array.from(bytes);
}

function ipv6Bytes(text: string): IpBytes | null {
  let tail: number[] = [];
  let head = text;
  // A dotted IPv4 tail (`::ffff:127.0.0.1`) stands for the last two groups.
  const dotted = text.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const v4 = ipv4Bytes(dotted[2] as string);
    if (v4 === null) return null;
    tail = [...v4];
    const prefix = dotted[1] as string;
    head = prefix.endsWith('::') ? prefix : prefix.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const left = groups(halves[0]);
  const right = groups(halves[1]);
  const wanted = 8 - tail.length / 2;
  const missing = wanted - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  const bytes: number[] = [];
  for (const group of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return null;
    const value = Number.parseInt(group, 16);
    bytes.push(value >> 8, value & 0xff);
  }
  return Uint8Array.from([...bytes, ...tail]);
}

/** The bytes of an IPv4 or IPv6 address (brackets and a zone index allowed), or null. */
export function parseIp(text: string): IpBytes | null {
  const bare = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return ipv4Bytes(bare);
  if (family === 6) return ipv6Bytes(bare);
  return null;
}

/** `10.0.0.0/8`, `fc00::/7`, or a single address (the whole prefix). */
export function parseRange(text: string): IpRange | null {
  const [address, bits, ...rest] = text.trim().split('/');
  if (address === undefined || rest.length > 0) return null;
  const base = parseIp(address);
  if (base === null) return null;
  if (bits === undefined) return { base, prefix: base.length * 8 };
  if (!/^\d{1,3}$/.test(bits)) return null;
  const prefix = Number(bits);
  return prefix <= base.length * 8 ? { base, prefix } : null;
}

export function inRange(ip: IpBytes, range: IpRange): boolean {
  if (ip.length !== range.base.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((ip[i] as number) & mask) !== ((range.base[i] as number) & mask)) return false;
  }
  return true;
}

const ranges = (...texts: string[]) => texts.map((text) => parseRange(text) as IpRange);

/** Not on the public internet: where a webhook could reach the gateway's own network. */
const NON_PUBLIC_V4 = ranges(
  '0.0.0.0/8', // "this network", unspecified
  '10.0.0.0/8',
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8',
  '169.254.0.0/16', // link-local, cloud metadata services
  '172.16.0.0/12',
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // documentation
  '192.168.0.0/16',
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and the broadcast address
);

const NON_PUBLIC_V6 = ranges(
  '::/96', // unspecified, loopback and the deprecated IPv4-compatible forms
  '100::/64', // discard
  '2001:db8::/32', // documentation
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'fec0::/10', // site-local (deprecated)
  'ff00::/8', // multicast
);

/** IPv6 forms that carry an IPv4 address, which is what they reach: check that one. */
const EMBEDDING_V4: { range: IpRange; offset: number }[] = [
  { range: parseRange('::ffff:0:0/96') as IpRange, offset: 12 }, // IPv4-mapped
  { range: parseRange('64:ff9b::/96') as IpRange, offset: 12 }, // NAT64
  { range: parseRange('2002::/16') as IpRange, offset: 2 }, // 6to4
];

/** Whether an address is on the public internet (IPv4-mapped and similar forms unwrapped). */
export function isPublicAddress(ip: IpBytes): boolean {
  if (ip.length === 4) return !NON_PUBLIC_V4.some((range) => inRange(ip, range));
  for (const { range, offset } of EMBEDDING_V4)
    if (inRange(ip, range)) return isPublicAddress(ip.slice(offset, offset + 4));
  return !NON_PUBLIC_V6.some((range) => inRange(ip, range));
}
