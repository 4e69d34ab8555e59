/** Throwaway TestNets for a test file: `newNet(label)` makes one; all of them are removed after each test. */
import { afterEach } from 'vitest';
import { TestNet } from './harness.js';

export function testNets(): (label: string) => TestNet {
  const nets: TestNet[] = [];
  afterEach(() => {
    for (const n of nets.splice(0)) n.cleanup();
  });
  return (label) => {
    const n = new TestNet(label);
    nets.push(n);
    return n;
  };
}
