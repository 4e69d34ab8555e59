import { describe, expect, it } from 'vitest';
import { contains, formatIP, lastAddressOf, networkOf, parseCIDR, parseIP, isGlobalUnicast } from '../../lib/ip.js';

describe('ip', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['fd00:0:0::1', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['FD00::ABCD', 'fd00::abcd'],
  ])('parses and formats %s as %s', (input, want) => {
    expect(formatIP(parseIP(input)!)).toBe(want);
  });

  it.each(['', '1.2.3', '256.1.1.1', '01.2.3.4', '1::2::3', 'fd00::g', '1:2:3:4:5:6:7:8:9', 'abc', '1.2.3.4/24'])('rejects %j', (s) => {
    expect(parseIP(s)).toBeUndefined();
  });

  it('computes networks, last addresses and containment', () => {
    const c = parseCIDR('10.1.2.3/16')!;
    expect(formatIP(networkOf(c).ip)).toBe('10.1.0.0');
    expect(formatIP(lastAddressOf(c))).toBe('10.1.255.255');
    expect(contains(c, parseIP('10.1.9.9')!)).toBe(true);
    expect(contains(c, parseIP('10.2.0.0')!)).toBe(false);
    expect(contains(c, parseIP('fd00::1')!)).toBe(false);
    const v6 = parseCIDR('fd00:10::/64')!;
    expect(formatIP(lastAddressOf(v6))).toBe('fd00:10::ffff:ffff:ffff:ffff');
    expect(parseCIDR('10.0.0.0/33')).toBeUndefined();
  });

  it('knows global unicast', () => {
    expect(isGlobalUnicast(parseIP('10.0.0.2')!)).toBe(true);
    expect(isGlobalUnicast(parseIP('127.0.0.1')!)).toBe(false);
    expect(isGlobalUnicast(parseIP('fe80::1')!)).toBe(false);
    expect(isGlobalUnicast(parseIP('fd00::1')!)).toBe(true);
    expect(isGlobalUnicast(parseIP('ff02::1')!)).toBe(false);
  });
});
