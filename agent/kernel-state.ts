/**
 * Reading the kernel state the data path reconciles against: the VXLAN device (with its addresses), the agent's routes,
 * the device's neighbours and FDB entries, as `ip -j` / `bridge -j` list them (lib/iface.ts IpLink, IpRoute). In the
 * shipped executable these listings are rtnetlink dumps made in-process (lib/rtnetlink through lib/netns.ts): one
 * socket round trip each, where an `ip -j … show` exec costs ~12 ms of CPU (mostly exec'ing ip and loading its
 * libraries); under Node (tests, CNI_TS_NO_FFI=1) the programs run.
 */
import type { IpLink, IpRoute } from '../lib/iface.js';
import { libc } from '../lib/native.js';
import { Netns } from '../lib/netns.js';

export interface Neigh {
  dst: string;
  lladdr?: string;
  state?: string[];
}

export interface Fdb {
  mac: string;
  dst?: string;
  flags?: string[];
  state?: string;
}

export interface KernelReader {
  /** One link by name with its addresses and (vxlan) settings, as `ip -d -j addr show dev NAME`; undefined if absent. */
  link(name: string): IpLink | undefined;
  /** Routes of the main table with protocol `proto`, of the given families. */
  routes(proto: number, v6: boolean): IpRoute[];
  /** Neighbours on `dev` (both families). */
  neighs(dev: string): Neigh[];
  /** FDB entries on `dev`. */
  fdb(dev: string): Fdb[];
  /** In-process rtnetlink (the executable) or the ip/bridge programs (Node, CNI_TS_NO_FFI=1). */
  readonly kind: 'netlink' | 'exec';
}

const host = Netns.host();

function listed<T>(tool: 'ip' | 'bridge', args: string[]): T | undefined {
  const r = tool === 'ip' ? host.ip(['-j', ...args]) : host.bridge(['-j', ...args]);
  if (r.status !== 0) return undefined;
  const t = r.stdout.trim();
  return (t ? JSON.parse(t) : []) as T;
}

export function kernelReader(): KernelReader {
  return {
    kind: libc() ? 'netlink' : 'exec',
    link: (name) => listed<IpLink[]>('ip', ['-d', 'addr', 'show', 'dev', name])?.[0],
    routes: (proto, v6) => [
      ...(listed<IpRoute[]>('ip', ['route', 'show', 'proto', String(proto)]) ?? []),
      ...(v6 ? (listed<IpRoute[]>('ip', ['-6', 'route', 'show', 'proto', String(proto)]) ?? []) : []),
    ],
    neighs: (dev) => listed<Neigh[]>('ip', ['neigh', 'show', 'dev', dev]) ?? [],
    fdb: (dev) => listed<Fdb[]>('bridge', ['fdb', 'show', 'dev', dev]) ?? [],
  };
}
