/** The host side of bandwidth: finding the container's host veth, the IFB device, applying and reading tc. */
import { pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import { run } from '../../lib/exec.js';
import { readLink, type IpLink } from '../../lib/iface.js';
import { batchFailedLine, describeBatchFailure, isNotFound, type Netns } from '../../lib/netns.js';
import { newMac } from '../../lib/veth.js';
import type { TcQdisc } from './tc.js';

export interface HostVeth {
  name: string;
  mtu: number;
  txqlen: number;
}

/** One JSON document per line (what `ip -j -batch` prints: an array per command). */
const jsonLines = <T>(out: string): T[] => out.split('\n').filter((l) => l.trim().startsWith('[')).flatMap((l) => JSON.parse(l) as T[]);

/**
 * The host end of the container's veth, as the reference finds it: the peer index of CNI_IFNAME in the container,
 * matched against the interfaces of prevResult that have no sandbox (one `ip` listing on each side).
 */
export function findHostVeth(container: Netns, host: Netns, ifname: string, result: Result): HostVeth {
  const link = readLink(container, ifname);
  if (!link) throw pluginError(`container interface ${ifname} has no veth peer`, `there is no ${ifname} in ${container.label}`);
  const peer = link.link_index;
  if (!peer) throw pluginError(`container interface ${ifname} has no veth peer`, 'bandwidth shapes the host end of a veth pair (bridge, ptp)');
  const candidates = (result.interfaces ?? []).filter((i) => !i.sandbox).map((i) => i.name);
  if (!candidates.length) throw pluginError('no interfaces provided', 'prevResult names no host-side interface');
  const shown = jsonLines<IpLink>(host.ip(['-j', '-force', '-batch', '-'], candidates.map((c) => `link show dev ${c}`).join('\n') + '\n').stdout);
  const veth = shown.find((l) => l.ifindex === peer);
  if (!veth) throw pluginError('no veth peer of container interface found in host ns', `${ifname}'s peer is ifindex ${peer}; prevResult's host interfaces: ${candidates.join(', ')}`);
  return { name: veth.ifname, mtu: veth.mtu ?? 1500, txqlen: veth.txqlen ?? 0 };
}

/** The IFB device, up, with the host veth's MTU and at least 1000 packets of queue (as the current reference). */
export function createIfb(host: Netns, name: string, veth: HostVeth): string {
  const mac = newMac(); // a random locally administered unicast MAC, as the kernel gives a new IFB device
  host.ipBatchOk([`link add name ${name} address ${mac} mtu ${veth.mtu} txqueuelen ${Math.max(veth.txqlen, 1000)} type ifb`, `link set dev ${name} up`]);
  return mac;
}

/** Delete the IFB device; gone already is fine. */
export function deleteIfb(host: Netns, name: string): void {
  const r = host.ip(['link', 'del', name]);
  if (r.status !== 0 && !isNotFound(r.stderr)) throw pluginError(`failed to delete ${name}`, r.stderr.trim());
}

/** Run `tc -batch` in the plugin's (host) namespace; on failure, the 0-based index of the failing line. */
export function tcBatch(lines: readonly string[]): { ok: true } | { ok: false; failed: number; message: string } {
  const r = run('tc', ['-batch', '-'], { input: lines.join('\n') + '\n' });
  if (r.status === 0) return { ok: true };
  return { ok: false, failed: Math.max(batchFailedLine(r.stderr) - 1, 0), message: describeBatchFailure(r.stderr, lines, 'tc') };
}

export function tcQdiscs(dev: string): TcQdisc[] {
  const r = run('tc', ['-j', 'qdisc', 'show', 'dev', dev]);
  if (r.status !== 0) throw pluginError(`tc qdisc show dev ${dev} failed`, r.stderr.trim());
  return jsonLines<TcQdisc>(r.stdout);
}

export function tcText(args: readonly string[]): string {
  const r = run('tc', args);
  if (r.status !== 0) throw pluginError(`tc ${args.join(' ')} failed`, r.stderr.trim());
  return r.stdout;
}
