/**
 * The slow path (first ADD in a namespace, or repairing shared chains) reads the ruleset and then adds the shared
 * chains/rules that are missing; two such ADDs at once would both add them. A file lock serialises that path only
 * (the common path never takes it).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { withFileLock } from '../../lib/lock.js';

export function withSetupLock<T>(fn: () => T): T {
  const dir = existsSync('/run/lock') ? '/run/lock' : process.env.TMPDIR || '/tmp';
  return withFileLock(join(dir, 'cni-ts-portmap.lock'), fn);
}
