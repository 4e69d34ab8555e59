/** Hostile values the mutator draws from: wrong types, bad names, bad addresses, huge and strange strings. Pure. */
import type { Rng } from './rng.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Strings that break naive parsers or name checks. */
export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  'a',
  '-',
  '--help',
  '.',
  '..',
  '../../../../etc/passwd',
  '/',
  'eth0/x',
  'eth0 ',
  ' eth0',
  'br\u0000x',
  'a\nb',
  'a;b',
  '$(id)',
  '`id`',
  "'",
  '"',
  '\\',
  '%s%n',
  'x'.repeat(16),
  'x'.repeat(256),
  'é\u00e9\u200b',
  '😀',
  '\ud800',
  'null',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  '0x10',
  'lo',
  'eth0',
  'default',
  'all',
  '*',
  'IgnoreUnknown=1',
  'K8S_POD_NAME=x',
];

/** Addresses and CIDRs, valid, invalid and edge cases. */
export const HOSTILE_CIDRS: readonly string[] = [
  '10.0.0.0/33',
  '10.0.0.0/-1',
  '10.0.0.0/',
  '10.0.0.0',
  '10.0.0.1/24',
  '256.0.0.0/8',
  '10.0.0.0/8/8',
  '1.2.3/24',
  '01.02.03.04/24',
  '0.0.0.0/0',
  '10.0.0.0/32',
  '10.0.0.0/31',
  '255.255.255.255/32',
  '::/0',
  '::/129',
  'fd00::/64',
  'fd00::1/128',
  'fd00:::1/64',
  '::ffff:10.0.0.1/120',
  'fe80::1%eth0/64',
  'fd00::/200',
  '10.0.0.0/24 ',
  ' 10.0.0.0/24',
  '10.0.0.0\u0000/24',
  'localhost',
  '1.1.1.1',
  '127.0.0.1/8',
  '224.0.0.1/4',
];

export const HOSTILE_NUMBERS: readonly number[] = [0, -1, 1, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53 + 1, -(2 ** 31), 1.5, 1e308, 1e-300];

/** Top-level JSON values of every type. */
export const TYPE_CONFUSED: readonly Json[] = [null, true, false, 0, -1, 1.5, '', 'x', [], [null], {}, { '': null }, [[[]]], '{}'];

/** A value of a random kind: a wrong type, a hostile string, number or CIDR, a huge string or a deep nest. */
export function hostileValue(rng: Rng): Json {
  return rng.weighted<() => Json>([
    [4, () => rng.pick(TYPE_CONFUSED)],
    [4, () => rng.pick(HOSTILE_STRINGS)],
    [3, () => rng.pick(HOSTILE_CIDRS)],
    [2, () => rng.pick(HOSTILE_NUMBERS)],
    [1, () => 'A'.repeat(rng.pick([4096, 65536, 300_000]))],
    [1, () => deepNest(rng.int(50, 2000))],
  ])();
}

/** `[[[…]]]` nested `depth` deep. */
export function deepNest(depth: number): Json {
  let v: Json = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}
