/** Unit-test helper: the CniError a call throws (the test fails when it throws nothing or something else). */
import { expect } from 'vitest';
import { CniError } from '../../lib/cni/errors.js';

export function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return e as CniError;
  }
  throw new Error('expected a CniError');
}
