/**
 * Veth pairs between the host and a container, shared by bridge and ptp: random names and MACs, the `ip -batch` line
 * that creates the pair straight into the container netns, running a host batch that starts with it (name clashes
 * handled), removal, forwarding, and DEL/GC of such an attachment.
 * Line and sysctl generation is pure; the functions taking a Netns do the I/O.
 */
import { validAttachments } from './cni/config.js';
import { pluginError } from './cni/errors.js';
import { ipamDel, ipamGc } from './cni/invoke.js';
import { needsLinkFirst } from './cni/linkfirst.js';
import { randomBytes } from './hash.js';
import type { CniContext } from './cni/skel.js';
import { deleteContainerLink } from './iface.js';
import { familiesOf, gcIpMasq, teardownIpMasq } from './ipmasq.js';
import type { Backend } from './netfilter.js';
import { batchFailedLine, type Netns } from './netns.js';
import { runAll } from './rollback.js';

/** The two ends of a veth pair about to be created: host end in the host netns, container end in `netnsPath`. */
export interface VethPair {
  hostVeth: string;
  hostMac: string;
  containerIfname: string;
  containerMac: string;
  netnsPath: string;
}

/** A random locally administered unicast MAC (as the kernel's eth_random_addr). */
export function randomMac(bytes: Uint8Array): string {
  const b = Array.from(bytes.slice(0, 6));
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export const randomVethName = (): string => `veth${randomBytes(4).toString('hex')}`;
export const newMac = (): string => randomMac(randomBytes(6));

/** A pair with a fresh random host name and MACs (the container MAC when the runtime asked for one). */
export function newVethPair(containerIfname: string, netnsPath: string, containerMac?: string): VethPair {
  return { hostVeth: randomVethName(), hostMac: newMac(), containerIfname, containerMac: containerMac ?? newMac(), netnsPath };
}

/** `ip -batch` line creating the pair, the container end directly in its netns (nothing to move afterwards). */
export function vethAddLine(p: VethPair, mtu?: number): string {
  const m = mtu ? ` mtu ${mtu}` : '';
  return `link add ${p.hostVeth} address ${p.hostMac}${m} type veth peer name ${p.containerIfname} address ${p.containerMac}${m} netns ${p.netnsPath}`;
}

/** A failed host batch: the 1-based line that failed (0 when unknown), that line, ip's stderr and all lines. */
export interface BatchFailure {
  failedLine: number;
  line: string;
  stderr: string;
  lines: string[];
  attempt: number;
}

const MAX_ATTEMPTS = 10;

/**
 * Run `linesOf(plan)` in the host netns; its first line must create the pair (vethAddLine). When that line fails
 * with "File exists", a taken container interface name is an error naming it, a taken random host name is retried
 * with a new one. Any later line failing removes the veth again (tolerant), then `onFailure` either throws or returns
 * a plan to try again with (e.g. after a concurrent ADD created a shared bridge). Returns the plan actually applied.
 */
export function applyVethBatch<P extends VethPair>(
  host: Netns,
  container: Netns,
  plan: P,
  linesOf: (p: P) => string[],
  onFailure: (p: P, f: BatchFailure) => P,
): P {
  for (let attempt = 0; ; attempt++) {
    const lines = linesOf(plan);
    const r = host.ipBatch(lines);
    if (r.status === 0) return plan;
    const failedLine = batchFailedLine(r.stderr);
    if (failedLine === 1 && /File exists/.test(r.stderr)) {
      const taken = container.ip(['-j', 'link', 'show', 'dev', plan.containerIfname]).status === 0;
      if (taken) throw pluginError(`container veth name provided (${plan.containerIfname}) already exists`);
      if (attempt < MAX_ATTEMPTS) {
        plan = { ...plan, hostVeth: randomVethName() };
        continue;
      }
    }
    if (failedLine > 1) deleteHostVeth(host, plan.hostVeth);
    plan = onFailure(plan, { failedLine, line: lines[failedLine - 1] ?? '', stderr: r.stderr, lines, attempt });
    if (attempt >= MAX_ATTEMPTS) throw pluginError(`failed to create veth ${plan.hostVeth}: gave up after ${MAX_ATTEMPTS} attempts`);
  }
}

/** Remove the host veth (and with it the container end); tolerant of it being gone. */
export function deleteHostVeth(host: Netns, name: string): void {
  host.ipBatch([`link del ${name}`], true);
}

/** Host forwarding sysctls for the families a plugin routes (the reference's ip.EnableForward). */
export function forwardingSysctls(families: Iterable<4 | 6>): Record<string, string> {
  const fwd: Record<string, string> = {};
  for (const f of families) fwd[f === 4 ? 'net/ipv4/ip_forward' : 'net/ipv6/conf/all/forwarding'] = '1';
  return fwd;
}

/** What DEL of a veth attachment needs to know from its config. */
export interface VethDelConf {
  network: string;
  /** An IPAM is configured (there is a lease to release). */
  layer3: boolean;
  ipMasq: boolean;
  /** `ipMasqBackend` when the config sets one (its backend is looked at first). */
  ipMasqBackend?: Backend;
}

/** The container's addresses as DEL knows them: prevResult (≥0.4.0 runtimes send it) and what was on the link. */
function knownAddresses(ctx: CniContext, captured: readonly string[]): string[] {
  const prev = (ctx.conf.prevResult?.ips ?? []).map((i) => i.address);
  return [...new Set([...prev, ...captured])];
}

/**
 * DEL of a veth attachment: delete the container end (the host end goes with it) capturing its addresses, release
 * the IPAM lease (before the link goes when the IPAM works on it: dhcp), run `extra` cleanups, remove the masquerade. Every step runs even when an earlier one failed, the
 * first error is reported. Masquerade rules are found by name (chain hash, nft comment), so this works without netns
 * and without prevResult; the addresses only narrow which iptables families to look at. Idempotent.
 */
export function delVethAttachment(ctx: CniContext, conf: VethDelConf, extra: Array<() => void> = []): void {
  let captured: string[] = [];
  // An IPAM that works on the link (dhcp: the DHCPRELEASE goes out over it) is asked before the link goes.
  const releaseFirst = conf.layer3 && needsLinkFirst(ctx);
  runAll([
    releaseFirst && (() => ipamDel(ctx)),
    // the addresses the link had are needed only to narrow the masquerade teardown when there is no prevResult
    () => (captured = deleteContainerLink(ctx, conf.layer3 && conf.ipMasq && !ctx.conf.prevResult?.ips?.length)),
    conf.layer3 && !releaseFirst && (() => ipamDel(ctx)),
    ...extra,
    conf.layer3 &&
      conf.ipMasq &&
      (() => {
        const addresses = knownAddresses(ctx, captured);
        teardownIpMasq({ network: conf.network, ifname: ctx.ifname, containerId: ctx.containerId, families: familiesOf(addresses), addresses, ...(conf.ipMasqBackend ? { backend: conf.ipMasqBackend } : {}) });
      }),
  ]);
}

/** GC: the masquerade of every attachment of `network` not in `cni.dev/valid-attachments`, then the IPAM's GC. */
export function gcVethAttachments(ctx: CniContext, network: string): void {
  const keep = validAttachments(ctx.conf.raw);
  runAll([() => gcIpMasq(network, keep), () => ipamGc(ctx)]);
}
