/**
 * The on-disk lease store, byte-compatible with the Go host-local:
 * `<dataDir>/<network>/<ip>` holding "<containerID>\r\n<ifname>", `last_reserved_ip.<set>`, and `lock` (flock).
 * Leases are created atomically: written to a temp file, then hard-linked into place (link fails if the IP is taken),
 * so a crash never leaves a half-written lease.
 */
import { closeSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, accessSync, constants } from 'node:fs';
import { join } from '../../lib/paths.js';
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import { withFileLock } from '../../lib/lock.js';
import { formatIP, parseIP, type IP } from '../../lib/ip.js';

export const LINE_BREAK = '\r\n';
const TMP_PREFIX = '.cni-ts-tmp-';
const LAST_RESERVED = 'last_reserved_ip.';

export interface Lease {
  file: string;
  ip: IP;
  containerId: string;
  /** Undefined for legacy leases that hold only the container ID. */
  ifname?: string;
}

export interface LeaseStore {
  reserve(ip: IP, containerId: string, ifname: string, setIndex: number): boolean;
  lastReserved(setIndex: number): IP | undefined;
  leases(): Lease[];
  remove(lease: Lease): void;
}

const ioError = (what: string, e: unknown): CniError => new CniError(ErrorCode.IOFailure, what, (e as Error).message);

export const isStoreFile = (name: string): boolean => name !== 'lock' && !name.startsWith(LAST_RESERVED) && !name.startsWith(TMP_PREFIX);

export function parseLease(file: string, content: string): Lease | undefined {
  const ip = parseIP(file);
  if (!ip) return undefined;
  const text = content.trim();
  const i = text.indexOf(LINE_BREAK);
  if (i < 0) return { file, ip, containerId: text };
  return { file, ip, containerId: text.slice(0, i).trim(), ifname: text.slice(i + LINE_BREAK.length) };
}

/** Lease owned by (containerId, ifname)? Legacy leases (ID only) match on the ID when `legacy` is set. */
export function leaseMatches(l: Lease, containerId: string, ifname: string, legacy: boolean): boolean {
  if (l.containerId !== containerId.trim()) return false;
  return legacy ? l.ifname === undefined : l.ifname === ifname;
}

export class DiskStore implements LeaseStore {
  readonly dir: string;

  constructor(dataDir: string, network: string) {
    this.dir = join(dataDir, network);
  }

  /** Create the directory; a clear I/O error when the data dir is unusable. */
  open(): this {
    // Non-recursive first: the common case (dataDir exists) and the one whose error is precise
    // (Node's recursive mkdir reports ENOENT for a read-only file system).
    try {
      mkdirSync(this.dir, { mode: 0o755 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        try {
          mkdirSync(this.dir, { recursive: true, mode: 0o755 });
        } catch (e2) {
          throw ioError(`cannot create IPAM data directory ${this.dir}`, e2);
        }
      } else if (code !== 'EEXIST') {
        throw ioError(`cannot create IPAM data directory ${this.dir}`, e);
      }
    }
    return this;
  }

  /** Run `fn` holding the store's flock (the same lock the Go host-local takes). */
  locked<T>(fn: () => T): T {
    return withFileLock(join(this.dir, 'lock'), fn);
  }

  writable(): boolean {
    try {
      accessSync(this.dir, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  /** Write `content` to a new temp file in the store; on any failure nothing of it is left behind. */
  private writeTemp(content: string, mode: number): string {
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}-${Math.random().toString(16).slice(2)}`);
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'wx', mode);
      writeSync(fd, content);
      closeSync(fd);
      fd = undefined;
      return tmp;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      removeQuietly(tmp);
      throw ioError(`cannot write in IPAM data directory ${this.dir}`, e);
    }
  }

  /**
   * Reserve `ip` for (containerId, ifname): false when it is taken. The lease appears atomically (hard link of a
   * complete temp file); when recording it as the set's last reserved IP fails, the lease is taken back, so an error
   * never leaves a lease (or a temp file) behind.
   */
  reserve(ip: IP, containerId: string, ifname: string, setIndex: number): boolean {
    const name = formatIP(ip);
    const lease = join(this.dir, name);
    const tmp = this.writeTemp(`${containerId.trim()}${LINE_BREAK}${ifname}`, 0o600);
    try {
      linkSync(tmp, lease);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw ioError(`cannot reserve ${name} in ${this.dir}`, e);
    } finally {
      removeQuietly(tmp);
    }
    try {
      const last = this.writeTemp(name, 0o644);
      try {
        renameSync(last, join(this.dir, `${LAST_RESERVED}${setIndex}`));
      } catch (e) {
        removeQuietly(last);
        throw ioError(`cannot record ${name} as the last reserved IP in ${this.dir}`, e);
      }
    } catch (e) {
      removeQuietly(lease);
      throw e;
    }
    return true;
  }

  lastReserved(setIndex: number): IP | undefined {
    try {
      return parseIP(readFileSync(join(this.dir, `${LAST_RESERVED}${setIndex}`), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  leases(): Lease[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: Lease[] = [];
    for (const n of names) {
      if (!isStoreFile(n)) continue;
      try {
        const l = parseLease(n, readFileSync(join(this.dir, n), 'utf8'));
        if (l) out.push(l);
      } catch {
        /* vanished or unreadable: not a lease we can use */
      }
    }
    return out;
  }

  remove(lease: Lease): void {
    try {
      unlinkSync(join(this.dir, lease.file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot release ${lease.file} in ${this.dir}`, e);
    }
  }

  /** Temp files left by a crash in the middle of a reserve (older than a minute). */
  removeStaleTemps(now = Date.now()): void {
    for (const n of readdirSync(this.dir)) {
      if (!n.startsWith(TMP_PREFIX)) continue;
      try {
        if (now - statSync(join(this.dir, n)).mtimeMs > 60_000) unlinkSync(join(this.dir, n));
      } catch {
        /* gone already */
      }
    }
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
