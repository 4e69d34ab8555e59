import { UserError } from './errors.js';

/** Commands that change namespaces, links or rules need root; say so before anything is touched. */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new UserError(`cnictl ${what} must run as root (it creates network namespaces, interfaces and rules): run it with sudo`);
}
