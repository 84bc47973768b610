// Which network addresses a web origin may connect to (README "Web and Cloudinary origins",
// SECURITY.md): everything that is not the public internet is refused unless the origin says
// `allowPrivateNetwork`, so no URL, redirect or DNS answer can reach the instance metadata
// service, the VPC or the host itself.

import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** The ranges refused, each with the word used in the refusal. */
const IPV4_RANGES: [string, number, string][] = [
  ['0.0.0.0', 8, '"this network" (0.0.0.0/8)'],
  ['10.0.0.0', 8, 'private (10.0.0.0/8)'],
  ['100.64.0.0', 10, 'carrier-grade NAT (100.64.0.0/10)'],
  ['127.0.0.0', 8, 'loopback (127.0.0.0/8)'],
  ['169.254.0.0', 16, 'link-local (169.254.0.0/16, instance metadata)'],
  ['172.16.0.0', 12, 'private (172.16.0.0/12)'],
  ['192.0.0.0', 24, 'IETF protocol assignments (192.0.0.0/24)'],
  ['192.0.2.0', 24, 'documentation (192.0.2.0/24)'],
  ['192.168.0.0', 16, 'private (192.168.0.0/16)'],
  ['198.18.0.0', 15, 'benchmarking (198.18.0.0/15)'],
  ['198.51.100.0', 24, 'documentation (198.51.100.0/24)'],
  ['203.0.113.0', 24, 'documentation (203.0.113.0/24)'],
  ['224.0.0.0', 4, 'multicast (224.0.0.0/4)'],
  ['240.0.0.0', 4, 'reserved or broadcast (240.0.0.0/4)'],
];

const IPV6_RANGES: [string, number, string][] = [
  ['::', 128, 'unspecified (::)'],
  ['::1', 128, 'loopback (::1)'],
  ['100::', 64, 'discard (100::/64)'],
  ['2001:db8::', 32, 'documentation (2001:db8::/32)'],
  // Tunnels and translators that carry an IPv4 address inside: they could reach a private one.
  ['2001::', 32, 'Teredo (2001::/32)'],
  ['2002::', 16, '6to4 (2002::/16)'],
  ['64:ff9b:1::', 48, 'local IPv4/IPv6 translation (64:ff9b:1::/48)'],
  ['fc00::', 7, 'unique-local (fc00::/7)'],
  ['fe80::', 10, 'link-local (fe80::/10)'],
  ['fec0::', 10, 'site-local (fec0::/10)'],
  ['ff00::', 8, 'multicast (ff00::/8)'],
];

type Family = 'ipv4' | 'ipv6';

function blockList(ranges: [string, number, string][], type: Family): { list: BlockList; type: Family; label: string }[] {
  return ranges.map(([net, prefix, label]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, type);
    return { list, type, label };
  });
}

const blocks = [...blockList(IPV4_RANGES, 'ipv4'), ...blockList(IPV6_RANGES, 'ipv6')];

/** The eight 16-bit groups of an IPv6 address (`::ffff:127.0.0.1` included). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16));
}

/**
 * The IPv4 address an IPv6 address carries, when it is one that reaches IPv4: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated) and NAT64 (`64:ff9b::a.b.c.d`).
 */
function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  const lastTwo = `${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(5) && g[5] === 0xffff) return lastTwo;
  if (zeroTo(6) && (g[6] !== 0 || g[7] > 1)) return lastTwo;
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return lastTwo;
  return undefined;
}

/**
 * Why an address may not be connected to without `allowPrivateNetwork` (a range in words), or
 * undefined when it is a public address. Anything that is not an IP address is refused.
 */
export function refusedRange(address: string): string | undefined {
  if (isIPv4(address)) return blocks.find((b) => b.type === 'ipv4' && b.list.check(address, 'ipv4'))?.label;
  if (!isIPv6(address)) return 'not an IP address';
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined) {
    const inner = refusedRange(v4);
    return inner === undefined ? undefined : `${inner}, written as IPv6`;
  }
  const plain = address.replace(/%.*$/, '');
  return blocks.find((b) => b.type === 'ipv6' && b.list.check(plain, 'ipv6'))?.label;
}
