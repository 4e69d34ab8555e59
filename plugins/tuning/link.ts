/** The container interface's attributes: reading them (ip -j) and the `ip link set` that changes them. */
import type { IpLink } from '../../lib/iface.js';
import type { LinkSettings } from './config.js';

export interface LinkState {
  mac: string;
  mtu: number;
  promisc: boolean;
  allmulti: boolean;
  txQLen: number;
}

export function linkState(l: IpLink): LinkState {
  const flags = l.flags ?? [];
  return {
    mac: (l.address ?? '').toLowerCase(),
    mtu: l.mtu ?? 0,
    promisc: flags.includes('PROMISC'),
    allmulti: flags.includes('ALLMULTI'),
    txQLen: l.txqlen ?? 0,
  };
}

/** One `ip -batch` line applying `s` to `ifname` (undefined when there is nothing to change). */
export function linkSetLine(ifname: string, s: LinkSettings): string | undefined {
  const parts: string[] = [];
  if (s.mtu !== undefined) parts.push('mtu', String(s.mtu));
  if (s.mac !== undefined) parts.push('address', s.mac);
  if (s.promisc !== undefined) parts.push('promisc', s.promisc ? 'on' : 'off');
  if (s.allmulti !== undefined) parts.push('allmulticast', s.allmulti ? 'on' : 'off');
  if (s.txQLen !== undefined) parts.push('txqueuelen', String(s.txQLen));
  return parts.length ? `link set dev ${ifname} ${parts.join(' ')}` : undefined;
}

/** CHECK: the first attribute that differs from the config, as the reference words it; undefined when all match. */
export function linkMismatch(ifname: string, want: LinkSettings, now: LinkState): string | undefined {
  if (want.mac !== undefined && want.mac !== now.mac) return `Error: Tuning configured Ethernet of ${ifname} is ${want.mac}, current value is ${now.mac}`;
  const promisc = want.promisc ?? false;
  if (promisc !== now.promisc) return `Error: Tuning link ${ifname} configured promisc is ${promisc}, current value is ${now.promisc ? 1 : 0}`;
  if (want.mtu !== undefined && want.mtu !== now.mtu) return `Error: Tuning configured MTU of ${ifname} is ${want.mtu}, current value is ${now.mtu}`;
  if (want.allmulti !== undefined && want.allmulti !== now.allmulti) {
    return `Error: Tuning configured all-multicast mode of ${ifname} is ${want.allmulti}, current value is ${now.allmulti}`;
  }
  if (want.txQLen !== undefined && want.txQLen !== now.txQLen) return `Error: Tuning configured TX queue length of ${ifname} is ${want.txQLen}, current value is ${now.txQLen}`;
  return undefined;
}

/** Sysctl values compare equal whatever the whitespace between fields (the kernel prints tabs for "a b c"). */
export const sameSysctlValue = (a: string, b: string): boolean => a.trim().split(/\s+/).join(' ') === b.trim().split(/\s+/).join(' ');
