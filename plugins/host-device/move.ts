/**
 * Moving a host link into a container and back, keeping its host name in the link's alias (IFLA_IFALIAS) as the
 * reference does, so that either implementation can give back what the other took. Line generation is pure; the
 * functions taking a Netns run `ip` command lines (in-process over rtnetlink in the shipped executable, else exec'd).
 */
import { CniError, pluginError } from '../../lib/cni/errors.js';
import type { IPConfig, Route } from '../../lib/cni/result.js';
import { configureIfaceCommands, type IpLink } from '../../lib/iface.js';
import { batchFailedLine, describeBatchFailure, isNotFound, type Netns } from '../../lib/netns.js';
import { parseLastLink } from '../../lib/parentlink.js';

/** What a link was like in the host before it moved: given back as it was when ADD fails. */
export interface HostState {
  up: boolean;
  alias: string;
}

/** `ip -batch` quoting of one argument (iproute2's batch reader splits on blanks and honours double quotes). */
export const batchArg = (s: string): string => (s === '' || /[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s);

/** The path by which `ip`, run in another netns, reaches this process's netns (the host's). */
export const hostNetnsPath = (): string => `/proc/${process.pid}/ns/net`;

/**
 * One host exec: show the link (its state before), then move it into the container netns, where it keeps its name
 * for now. A missing link or a container that already has a link of that name is an error; nothing has moved then.
 */
export function moveIn(host: Netns, name: string, netnsPath: string): HostState {
  const lines = [`link show dev ${name}`, `link set dev ${name} netns ${netnsPath}`];
  const r = host.ip(['-j', '-batch', '-'], lines.join('\n') + '\n');
  if (r.status !== 0) {
    const line = batchFailedLine(r.stderr);
    if (line === 1 && isNotFound(r.stderr)) throw pluginError(`failed to find host device: Link not found`, `no link named ${JSON.stringify(name)} in the host netns`);
    if (line === 2 && /File exists/i.test(r.stderr)) {
      throw pluginError(`failed to move link ${JSON.stringify(name)}: the container netns already has a link of that name`);
    }
    throw pluginError(`failed to move link ${JSON.stringify(name)} into ${netnsPath}`, describeBatchFailure(r.stderr, lines));
  }
  const before = parseLastLink(r.stdout);
  return { up: (before?.flags ?? []).includes('UP'), alias: before?.ifalias ?? '' };
}

/** Lines run in the container after the move: the host name into the alias, CNI_IFNAME, addresses, up, routes, show. */
export function containerLines(hostName: string, ifname: string, ips: readonly IPConfig[], routes: readonly Route[]): string[] {
  return [
    `link set dev ${hostName} name ${ifname}`,
    `link set dev ${ifname} alias ${batchArg(hostName)}`,
    ...configureIfaceCommands(ifname, ips, routes),
    `link show dev ${ifname}`,
  ];
}

/** A failed container step: the name the link has now (CNI_IFNAME once the rename went through). */
export class ConfigureFailure extends CniError {
  constructor(
    readonly currentName: string,
    err: CniError,
  ) {
    super(err.code, err.msg, err.details);
  }
}

/** One container exec: rename, alias, configure, read back. Returns the link as it ends up. */
export function configureInContainer(container: Netns, hostName: string, ifname: string, ips: readonly IPConfig[], routes: readonly Route[]): IpLink | undefined {
  const lines = containerLines(hostName, ifname, ips, routes);
  const r = container.ip(['-j', '-batch', '-'], lines.join('\n') + '\n');
  if (r.status === 0) return parseLastLink(r.stdout);
  const line = batchFailedLine(r.stderr);
  if (line === 0) {
    // ip stopped without saying where: see which name the link has now
    const renamed = container.ip(['link', 'show', 'dev', ifname]).status === 0;
    throw new ConfigureFailure(renamed ? ifname : hostName, pluginError(`failed to configure ${ifname} in ${container.label}`, r.stderr.trim()));
  }
  if (line === 1) {
    const exists = /File exists/i.test(r.stderr);
    throw new ConfigureFailure(hostName, pluginError(`failed to move link: failed to rename device ${JSON.stringify(hostName)} to ${JSON.stringify(ifname)}${exists ? ': file exists' : ''}`, r.stderr.trim()));
  }
  throw new ConfigureFailure(ifname, pluginError(`failed to configure ${ifname} in ${container.label}`, describeBatchFailure(r.stderr, lines)));
}

/** Link first (dhcp): the addresses, up and routes on the link already renamed to `ifname`; returns it as it ends up. */
export function configureAddresses(container: Netns, ifname: string, ips: readonly IPConfig[], routes: readonly Route[]): IpLink | undefined {
  const lines = [...configureIfaceCommands(ifname, ips, routes), `link show dev ${ifname}`];
  const r = container.ip(['-j', '-batch', '-'], lines.join('\n') + '\n');
  if (r.status !== 0) throw pluginError(`failed to configure ${ifname} in ${container.label}`, describeBatchFailure(r.stderr, lines));
  return parseLastLink(r.stdout);
}

/** Lines run in the container that give the link back: down, its host name, `alias`, into the host netns. */
export function returnLines(current: string, hostName: string, alias: string, hostPath = hostNetnsPath()): string[] {
  return [
    `link set dev ${current} down`,
    ...(current !== hostName ? [`link set dev ${current} name ${hostName}`] : []),
    `link set dev ${hostName} alias ${batchArg(alias)}`,
    `link set dev ${hostName} netns ${hostPath}`,
  ];
}

/**
 * Give the link named `current` in the container back to the host as `hostName`, with `restore.alias` and (when it was
 * up before ADD) up. When the host has a link of that name by now, the link stays in the container as it was and
 * this throws.
 */
export function returnToHost(container: Netns, host: Netns, current: string, hostName: string, restore: HostState): void {
  const lines = returnLines(current, hostName, restore.alias);
  const r = container.ipBatch(lines);
  if (r.status !== 0) {
    const failed = lines[batchFailedLine(r.stderr) - 1] ?? '';
    // put it back as it was (CNI_IFNAME, the host name in the alias, up), so that DEL can be retried
    const renamed = current !== hostName && (failed.includes(' alias ') || failed.includes(' netns '));
    container.ipBatch([...(renamed ? [`link set dev ${hostName} name ${current}`] : []), `link set dev ${current} alias ${batchArg(hostName)}`, `link set dev ${current} up`], true);
    const taken = /File exists/i.test(r.stderr);
    const what = failed.includes(' netns ') ? `move ${JSON.stringify(hostName)} to the host netns` : `restore ${JSON.stringify(current)} to its original name ${JSON.stringify(hostName)}`;
    throw pluginError(`failed to ${what}${taken ? ': a link of that name exists there' : ''}`, describeBatchFailure(r.stderr, lines));
  }
  if (restore.up) host.ipBatch([`link set dev ${hostName} up`], true);
}
