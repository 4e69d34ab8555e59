import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { basename, dirname, join, normalize } from '../../lib/paths.js';

// Every combination of up to three of these pieces (and each joined into one string): the shapes paths take.
const PIECES = ['', '/', '//', '.', '..', 'a', 'b', 'a/', '/a', 'a//b', './a', '../a', 'a/..', 'a/../..', '/..', 'x.conf', '.d', 'a/./b/', '///'];
function* combos(): Generator<string[]> {
  for (const a of PIECES) {
    yield [a];
    for (const b of PIECES) {
      yield [a, b];
      for (const c of PIECES) yield [a, b, c];
    }
  }
}

describe('lib/paths: node:path posix results without loading node:path', () => {
  it('join, normalize, dirname and basename agree with node:path on every combination', () => {
    const wrong: string[] = [];
    let cases = 0;
    for (const parts of combos()) {
      const s = parts.join('');
      cases++;
      if (join(...parts) !== posix.join(...parts)) wrong.push(`join(${JSON.stringify(parts)}) = ${join(...parts)}`);
      if (normalize(s) !== posix.normalize(s)) wrong.push(`normalize(${JSON.stringify(s)}) = ${normalize(s)}`);
      if (dirname(s) !== posix.dirname(s)) wrong.push(`dirname(${JSON.stringify(s)}) = ${dirname(s)}`);
      if (basename(s) !== posix.basename(s)) wrong.push(`basename(${JSON.stringify(s)}) = ${basename(s)}`);
    }
    expect(cases).toBe(PIECES.length * (1 + PIECES.length * (1 + PIECES.length)));
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  it('the paths the plugins build', () => {
    expect(join('/var/lib/cni/networks', 'mynet')).toBe('/var/lib/cni/networks/mynet');
    expect(join('/opt/cni/bin/', 'bridge')).toBe('/opt/cni/bin/bridge');
    expect(dirname('/var/run/netns/x')).toBe('/var/run/netns');
    expect(basename('/var/run/netns/x')).toBe('x');
    expect(basename('/opt/cni/bin/cni-ts-bridge')).toBe('cni-ts-bridge');
  });
});
