/**
 * Links created inside the container's netns itself (not moved in from the host): dummy and tap share this.
 * One `ip -batch` in the container runs the kind's checks, creates the link (under a temporary name renamed to
 * CNI_IFNAME, or as CNI_IFNAME directly), attaches it (e.g. to a bridge), puts the addresses on, sets it up, adds the
 * routes and reads it back. Its sysctls are the container's `default` ones during that exec (the executable's FFI);
 * without FFI there are two execs with the sysctls set by name between them. A failure removes exactly what this ADD
 * created — never a link that had CNI_IFNAME before.
 * Line planning and failure classification are pure; `createContainerLink`, `readExpectedLink` do the I/O.
 */
import { pluginError, type CniError } from './cni/errors.js';
import type { Interface, IPConfig, Result, Route } from './cni/result.js';
import type { CniContext } from './cni/skel.js';
import { configureIfaceCommands, readLink, type IpLink } from './iface.js';
import { libc } from './native.js';
import { Netns, batchFailedLine } from './netns.js';
import { parseLastLink } from './parentlink.js';

export interface ContainerLinkPlan {
  /** Lines run before anything is created (e.g. `link show dev br0`: the bridge must exist). */
  checks?: string[];
  /** Lines creating the link as `name` (the first one creates it unless `exists`), then settings under that name. */
  create: string[];
  /** The name `create` gives the link: CNI_IFNAME, or a temporary name renamed to CNI_IFNAME in the same batch. */
  name: string;
  /** The link was already created as `name` (by a separate exec): every line of `create` only adjusts it. */
  exists?: boolean;
  /** Lines after the rename, before the addresses (the link is CNI_IFNAME then): e.g. `link set dev eth0 master br0`. */
  attach?: string[];
  /** Sysctls of the new link, keyed by CNI_IFNAME (slash form), set before its addresses; others (e.g. lo's) too. */
  sysctls?: Record<string, string>;
}

export type Stage = 'check' | 'create' | 'rename' | 'attach' | 'configure';

/** Where a batch failed, for the plugin to turn into its error message. */
export interface LinkFailure {
  stage: Stage;
  /** The `ip` line that failed ('' when unknown). */
  line: string;
  /** The first error message of ip's stderr. */
  error: string;
}

/** What the link plan runs, line by line, with the stage each line belongs to. */
export function planLines(plan: ContainerLinkPlan, ifname: string, ips: readonly IPConfig[], routes: readonly Route[]): { lines: string[]; stages: Stage[]; split: number } {
  const lines: string[] = [];
  const stages: Stage[] = [];
  const add = (stage: Stage, ls: readonly string[]): void => {
    lines.push(...ls);
    stages.push(...ls.map(() => stage));
  };
  add('check', plan.checks ?? []);
  add('create', plan.create);
  if (plan.name !== ifname) add('rename', [`link set dev ${plan.name} name ${ifname}`]);
  add('attach', plan.attach ?? []);
  const split = lines.length; // without FFI: the first exec ends here, the sysctls go between
  add('configure', [...configureIfaceCommands(ifname, ips, routes), `link show dev ${ifname}`]);
  return { lines, stages, split };
}

/**
 * The name to delete after a batch failed at 1-based `failedLine` (0: unknown), or undefined when nothing this ADD
 * created is there: before the creating line nothing exists; until the rename succeeded the link has `plan.name`;
 * after it, CNI_IFNAME. When the line is unknown only a temporary name (never someone's CNI_IFNAME) is removed.
 */
export function leftover(plan: ContainerLinkPlan, ifname: string, stages: readonly Stage[], failedLine: number): string | undefined {
  const temp = plan.name !== ifname ? plan.name : undefined;
  if (failedLine <= 0 || failedLine > stages.length) return temp;
  const stage = stages[failedLine - 1]!;
  if (stage === 'check') return plan.exists ? plan.name : undefined;
  if (stage === 'create') {
    const firstCreate = stages.indexOf('create') + 1;
    return failedLine === firstCreate && !plan.exists ? undefined : plan.name;
  }
  if (stage === 'rename') return plan.name;
  return ifname;
}

/** The container's `default` sysctls that give a new link the settings `byName` sets on `ifname`; and the others. */
export function splitSysctls(byName: Record<string, string>, ifname: string): { defaults: Record<string, string>; others: Record<string, string> } {
  const defaults: Record<string, string> = {};
  const others: Record<string, string> = {};
  const own = `/conf/${ifname}/`;
  for (const [k, v] of Object.entries(byName)) {
    if (k.includes(own)) defaults[k.replace(own, '/conf/default/')] = v;
    else others[k] = v;
  }
  return { defaults, others };
}

const firstError = (stderr: string): string =>
  (stderr.split('\n').find((l) => l.trim() && !l.startsWith('Command failed')) ?? stderr).trim().replace(/^(RTNETLINK answers|Error):\s*/, '');

/**
 * Create and configure the link as planned in `container`; returns the link as read back (its MAC). On failure the
 * link this call created is deleted and `fail(failure)` is thrown.
 */
export function createContainerLink(
  container: Netns,
  ifname: string,
  plan: ContainerLinkPlan,
  ips: readonly IPConfig[],
  routes: readonly Route[],
  fail: (f: LinkFailure) => CniError,
): IpLink | undefined {
  const { lines, stages, split } = planLines(plan, ifname, ips, routes);
  const batch = (ls: readonly string[]) => container.ip(['-j', '-batch', '-'], ls.join('\n') + '\n');
  const failure = (stderr: string, offset: number, ls: readonly string[]): never => {
    const n = batchFailedLine(stderr);
    const at = n > 0 ? offset + n : 0;
    const gone = leftover(plan, ifname, stages, at);
    if (gone) container.ip(['link', 'del', 'dev', gone]);
    throw fail({ stage: at ? stages[at - 1]! : 'create', line: n > 0 ? (ls[n - 1] ?? '') : '', error: firstError(stderr) });
  };
  const { defaults, others } = splitSysctls(plan.sysctls ?? {}, ifname);
  const c = libc();
  if (c) {
    if (Object.keys(others).length) container.sysctlSet(others);
    const r = container.withLinkDefaults(c, defaults, () => batch(lines));
    if (r.status !== 0) failure(r.stderr, 0, lines);
    return parseLastLink(r.stdout);
  }
  const first = batch(lines.slice(0, split));
  if (first.status !== 0) failure(first.stderr, 0, lines.slice(0, split));
  try {
    container.sysctlSet(plan.sysctls ?? {});
  } catch (e) {
    container.ip(['link', 'del', 'dev', ifname]);
    throw e;
  }
  const second = batch(lines.slice(split));
  if (second.status !== 0) failure(second.stderr, split, lines.slice(split));
  return parseLastLink(second.stdout);
}

/** What a link-first IPAM gave (lib/cni/linkfirst.ts): the link's addresses, routes and sysctls, and how to give it back. */
export interface LinkFirstIps {
  ips: readonly IPConfig[];
  routes: readonly Route[];
  /** Sysctls keyed by CNI_IFNAME (slash form), set before the addresses. */
  sysctls?: Record<string, string>;
  release?: () => void;
}

/**
 * Link first, for an IPAM that works on the link itself (dhcp): one exec runs the plan's checks, creates the link,
 * renames and attaches it and sets it up (as the reference's); then `obtain` (the IPAM ADD); then the sysctls and a
 * second exec put the addresses and routes on and read the link back. A failure before `obtain` removes exactly
 * what was created; after it, what `obtain` got is released first (a DHCP lease is released over the link), then
 * the link is deleted.
 */
export function createLinkFirst<T extends LinkFirstIps>(
  container: Netns,
  ifname: string,
  plan: ContainerLinkPlan,
  obtain: () => T,
  fail: (f: LinkFailure) => CniError,
): { link: IpLink | undefined; got: T } {
  const { lines, stages, split } = planLines(plan, ifname, [], []);
  const first = [...lines.slice(0, split), `link set dev ${ifname} up`];
  const firstStages: Stage[] = [...stages.slice(0, split), 'configure'];
  const r = container.ip(['-j', '-batch', '-'], first.join('\n') + '\n');
  if (r.status !== 0) {
    const n = batchFailedLine(r.stderr);
    const gone = leftover(plan, ifname, firstStages, n);
    if (gone) container.ip(['link', 'del', 'dev', gone]);
    throw fail({ stage: n > 0 ? firstStages[n - 1]! : 'create', line: n > 0 ? (first[n - 1] ?? '') : '', error: firstError(r.stderr) });
  }
  let got: T | undefined;
  try {
    got = obtain();
    if (got.sysctls && Object.keys(got.sysctls).length) container.sysctlSet(got.sysctls);
    const rest = [...configureIfaceCommands(ifname, got.ips, got.routes), `link show dev ${ifname}`];
    const c = container.ip(['-j', '-batch', '-'], rest.join('\n') + '\n');
    if (c.status !== 0) throw fail({ stage: 'configure', line: rest[batchFailedLine(c.stderr) - 1] ?? '', error: firstError(c.stderr) });
    return { link: parseLastLink(c.stdout), got };
  } catch (e) {
    try {
      got?.release?.();
    } catch {
      /* the original error is the one to report */
    }
    container.ip(['link', 'del', 'dev', ifname]);
    throw e;
  }
}

/**
 * CHECK's common part: prevResult (required), its interface named CNI_IFNAME in this sandbox, and that link as the
 * container has it now (with details and addresses). Errors as the reference's.
 */
export function readExpectedLink(ctx: CniContext, container: Netns, kind: string): { prev: Result; index: number; intf: Interface; link: IpLink } {
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError(`${kind}: Required prevResult missing`);
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === ctx.ifname && i.sandbox === ctx.netns);
  if (index < 0) throw pluginError(`Sandbox in prevResult doesn't match configured netns: ${ctx.netns}`, `no interface ${JSON.stringify(ctx.ifname)} with that sandbox in prevResult`);
  const intf = prev.interfaces![index]!;
  const link = readLink(container, ctx.ifname, true);
  if (!link) throw pluginError(`${kind}: Container Interface name in prevResult: ${ctx.ifname} not found`);
  if (intf.mac && link.address && intf.mac.toLowerCase() !== link.address.toLowerCase()) {
    throw pluginError(`${kind}: Interface ${ctx.ifname} Mac ${intf.mac} doesn't match container Mac: ${link.address}`);
  }
  return { prev, index, intf, link };
}
