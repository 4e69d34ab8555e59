/**
 * The daemon's leases on disk, one JSON file per lease (written whole: temp file + rename), so a restarted daemon
 * goes on renewing and can still release them — the reference's daemon keeps them in memory only and forgets them.
 * The default directory is under /run: leases die with the namespaces they belong to at a reboot.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from '../../lib/paths.js';
import { writeFileAtomic } from '../../lib/files.js';
import { sha256Hex } from '../../lib/hash.js';
import type { LeaseRecord } from './lease.js';

const fileOf = (key: string): string => `${sha256Hex(key).slice(0, 40)}.json`;

export function isLeaseRecord(v: unknown): v is LeaseRecord {
  const r = v as Record<string, unknown>;
  return (
    typeof r === 'object' && r !== null &&
    ['key', 'netns', 'ifname', 'mac', 'clientId', 'ack', 'serverMac'].every((k) => typeof r[k] === 'string') &&
    typeof r.boundAt === 'number' && Array.isArray(r.provide) && Array.isArray(r.request)
  );
}

export class LeaseStore {
  constructor(readonly dir: string) {}

  open(): this {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return this;
  }

  save(r: LeaseRecord): void {
    writeFileAtomic(join(this.dir, fileOf(r.key)), JSON.stringify(r) + '\n', 0o600);
  }

  remove(key: string): void {
    rmSync(join(this.dir, fileOf(key)), { force: true });
  }

  /** Every record that reads back whole; files that do not (and stale temp files) are reported and removed. */
  load(warn: (msg: string) => void): LeaseRecord[] {
    const out: LeaseRecord[] = [];
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const name of names) {
      const path = join(this.dir, name);
      if (!name.endsWith('.json')) {
        if (name.includes('.json.tmp-')) rmSync(path, { force: true });
        continue;
      }
      try {
        const r: unknown = JSON.parse(readFileSync(path, 'utf8'));
        if (!isLeaseRecord(r) || fileOf(r.key) !== name) throw new Error('not a lease record');
        out.push(r);
      } catch (e) {
        warn(`ignoring ${path}: ${(e as Error).message}`);
        rmSync(path, { force: true });
      }
    }
    return out;
  }
}
