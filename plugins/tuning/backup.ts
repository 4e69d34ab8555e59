/**
 * The original interface attributes, kept between ADD and DEL in the reference's layout:
 * `<dataDir>/<containerID>_<ifname>.json`, Go's json.MarshalIndent with a one-space indent, fields omitted when not
 * saved — so the Go tuning restores what we saved and the other way round.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/files.js';
import { join } from '../../lib/paths.js';
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import { isObject } from '../../lib/cni/fields.js';
import type { LinkSettings } from './config.js';
import type { LinkState } from './link.js';

/** configToRestore of the reference (field order and names matter for byte-equal files). */
export interface Backup {
  mac?: string;
  promisc?: boolean;
  mtu?: number;
  allmulti?: boolean;
  txQLen?: number;
}

export const backupPath = (dataDir: string, containerId: string, ifname: string): string => join(dataDir, `${containerId}_${ifname}.json`);

/** What to save before applying `want`: the current value of every attribute that will change. */
export function backupOf(want: LinkSettings, now: LinkState): Backup {
  const b: Backup = {};
  if (want.mac !== undefined) b.mac = now.mac;
  if (want.promisc !== undefined) b.promisc = now.promisc;
  if (want.mtu !== undefined) b.mtu = now.mtu;
  if (want.allmulti !== undefined) b.allmulti = now.allmulti;
  if (want.txQLen !== undefined) b.txQLen = now.txQLen;
  return b;
}

/** The file's bytes, exactly as the reference writes them. */
export const formatBackup = (b: Backup): string => JSON.stringify(b, ['mac', 'promisc', 'mtu', 'allmulti', 'txQLen'], 1);

/** Parse a backup; unreadable content restores nothing (the reference ignores a file it cannot decode). */
export function parseBackup(text: string): Backup {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return {};
  }
  if (!isObject(v)) return {};
  const b: Backup = {};
  if (typeof v.mac === 'string' && v.mac) b.mac = v.mac;
  if (typeof v.promisc === 'boolean') b.promisc = v.promisc;
  if (typeof v.mtu === 'number' && v.mtu > 0) b.mtu = v.mtu;
  if (typeof v.allmulti === 'boolean') b.allmulti = v.allmulti;
  if (typeof v.txQLen === 'number') b.txQLen = v.txQLen;
  return b;
}

/** The settings that put the saved values back. */
export const restoreSettings = (b: Backup): LinkSettings => {
  const s: LinkSettings = {};
  if (b.promisc !== undefined) s.promisc = b.promisc;
  if (b.mac !== undefined) s.mac = b.mac;
  if (b.mtu !== undefined) s.mtu = b.mtu;
  if (b.allmulti !== undefined) s.allmulti = b.allmulti;
  if (b.txQLen !== undefined) s.txQLen = b.txQLen;
  return s;
};

export function writeBackup(file: string, dataDir: string, b: Backup): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileAtomic(file, formatBackup(b), 0o600);
  } catch (e) {
    throw new CniError(ErrorCode.IOFailure, `failed to save the original interface attributes to ${file}`, (e as Error).message);
  }
}

export function readBackup(file: string): Backup | undefined {
  try {
    return parseBackup(readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CniError(ErrorCode.IOFailure, `failed to open file ${JSON.stringify(file)}`, (e as Error).message);
  }
}

export const removeBackup = (file: string): void => rmSync(file, { force: true });
