/** Pure IPv4/IPv6 address arithmetic on bigints. No I/O. */

export type Family = 4 | 6;

export interface IP {
  readonly family: Family;
  readonly value: bigint;
}

export interface CIDR {
  /** The address as written (may have host bits set, e.g. an interface address). */
  readonly ip: IP;
  readonly prefix: number;
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255 || (p.length > 1 && p[0] === '0')) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  let tail4: bigint | undefined;
  let str = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    str = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = str.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const gs = h.split(':');
    const out: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
  return v;
}

/** Parse an IPv4 or IPv6 address; undefined when it is not one. */
export function parseIP(s: string): IP | undefined {
  if (typeof s !== 'string') return undefined;
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

/** Parse "addr/prefix". The address may have host bits set. */
export function parseCIDR(s: string): CIDR | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const pfx = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(pfx)) return undefined;
  const prefix = Number(pfx);
  if (prefix > bitsOf(ip.family)) return undefined;
  return { ip, prefix };
}

export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of >= 2 zero groups is compressed (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

export const formatCIDR = (c: CIDR): string => `${formatIP(c.ip)}/${c.prefix}`;

export function maskOf(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return (all >> BigInt(prefix)) ^ all;
}

export function networkOf(c: CIDR): CIDR {
  return { ip: { family: c.ip.family, value: c.ip.value & maskOf(c.ip.family, c.prefix) }, prefix: c.prefix };
}

/** The last address of the network (broadcast for IPv4). */
export function lastAddressOf(c: CIDR): IP {
  const host = ((1n << BigInt(bitsOf(c.ip.family))) - 1n) ^ maskOf(c.ip.family, c.prefix);
  return { family: c.ip.family, value: (c.ip.value & maskOf(c.ip.family, c.prefix)) | host };
}

export function contains(net: CIDR, ip: IP): boolean {
  if (net.ip.family !== ip.family) return false;
  const m = maskOf(ip.family, net.prefix);
  return (net.ip.value & m) === (ip.value & m);
}

export function overlaps(a: CIDR, b: CIDR): boolean {
  return contains(a, b.ip) || contains(b, a.ip);
}

export const ipEqual = (a: IP, b: IP): boolean => a.family === b.family && a.value === b.value;
export const addIP = (ip: IP, n: bigint): IP => ({ family: ip.family, value: ip.value + n });

export const isUnspecified = (ip: IP): boolean => ip.value === 0n;

/** 224.0.0.0/4 and above (multicast, reserved, the limited broadcast) for IPv4; ff00::/8 for IPv6. */
export const isMulticast = (ip: IP): boolean => (ip.family === 4 ? ip.value >> 28n >= 0xen : ip.value >> 120n === 0xffn);

/** Link-local, multicast and loopback are not "global unicast". */
export function isGlobalUnicast(ip: IP): boolean {
  if (ip.family === 4) {
    const first = Number(ip.value >> 24n);
    if (first === 127 || isMulticast(ip) || ip.value === 0n) return false;
    if ((ip.value >> 16n) === 0xa9fen) return false; // 169.254/16
    return true;
  }
  const top = ip.value >> 112n;
  if (ip.value === 0n || ip.value === 1n) return false;
  if (isMulticast(ip)) return false;
  if ((top & 0xffc0n) === 0xfe80n) return false; // fe80::/10
  return true;
}

/** The IPv6 link-local address the kernel derives from a MAC (EUI-64, addrgenmode eui64): fe80::/64 + MAC with ff:fe. */
export function linkLocalFromMac(mac: string): IP {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const eui = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  let v = 0xfe80n << 112n;
  for (const [i, x] of eui.entries()) v |= BigInt(x) << BigInt(8 * (7 - i));
  return { family: 6, value: v };
}
