/**
 * What cnictl must remember about a network that its conflist does not say: whether cnictl created the network's
 * bridge (then `network rm` deletes it) or found it (then it is left as found: its addresses, up or down).
 * One JSON file per network under CNICTL_DATA_DIR (default /var/lib/cnictl/networks/<name>.json): it survives
 * reboots, like the conflist. A network without a record (written by hand or by an older cnictl) has its bridge left
 * alone: cnictl deletes only what it knows it made.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/files.js';
import { withFileLock } from '../../lib/lock.js';

export interface BridgeRecord {
  name: string;
  /** cnictl created it: removing the network deletes it. */
  created: boolean;
  /** A bridge that was there already: its addresses (CIDRs) and state when cnictl found it. */
  addresses?: string[];
  up?: boolean;
}

export interface NetworkRecord {
  name: string;
  /** ISO time of `network create` (or the default network's first use). */
  created: string;
  bridge?: BridgeRecord;
}

export class NetworkRecords {
  constructor(readonly dir: string) {}

  file(name: string): string {
    return join(this.dir, 'networks', `${name}.json`);
  }

  /** Run `fn` holding the network lock (creating, removing and first use of networks do not interleave). */
  locked<T>(fn: () => T): T {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    return withFileLock(join(this.dir, 'lock'), fn);
  }

  read(name: string): NetworkRecord | undefined {
    try {
      const r = JSON.parse(readFileSync(this.file(name), 'utf8')) as NetworkRecord;
      return r && r.name === name ? r : undefined;
    } catch {
      return undefined;
    }
  }

  write(r: NetworkRecord): void {
    mkdirSync(join(this.dir, 'networks'), { recursive: true, mode: 0o755 });
    writeFileAtomic(this.file(r.name), JSON.stringify(r, null, 2) + '\n');
  }

  remove(name: string): void {
    rmSync(this.file(name), { force: true });
  }
}
