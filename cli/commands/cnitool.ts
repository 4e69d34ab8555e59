/**
 * `cnictl add|check|del|gc|status <network> <netns>`: cnitool's commands with cnitool's environment (NETCONFPATH,
 * CNI_PATH, CNI_IFNAME, CNI_ARGS, CAP_ARGS) and container ID (derived from the netns path the same way, or
 * CNI_CONTAINERID), so either tool can DEL what the other added. Differences from cnitool, all for safety:
 * a failed ADD is rolled back (DEL), and CHECK/DEL without CAP_ARGS/CNI_ARGS reuse those cached at ADD.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isObject, type Obj } from '../../lib/cni/fields.js';
import { printJSON } from '../../lib/cni/result.js';
import { findList } from '../runtime/conffiles.js';
import { Runtime, type RuntimeConf } from '../runtime/libcni.js';
import { cnitoolContainerId, parseCnitoolArgs } from '../runtime/request.js';
import { UserError, usageError } from '../util/errors.js';
import { out } from '../util/output.js';
import { pathsFrom } from '../util/paths.js';
import { requireRoot } from '../util/root.js';

export const USAGE = `Usage: cnictl add|check|del <network> <netns>
       cnictl gc <network> [<netns>]
       cnictl status <network>

cnitool's commands. Environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH (default /opt/cni/bin),
CNI_IFNAME (default eth0), CNI_ARGS (K=V;K=V), CAP_ARGS (JSON capability args), CNI_CONTAINERID (default
"cnitool-" + sha512 of the netns path, as cnitool derives it), CNI_CACHEDIR (default /var/lib/cni).`;

export async function cnitoolCommand(verb: string, argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    out(USAGE);
    return 0;
  }
  const needsNetns = verb === 'add' || verb === 'check' || verb === 'del';
  if (argv.length < (needsNetns ? 2 : 1) || argv.length > 2) throw usageError(`"cnictl ${verb}" needs ${needsNetns ? '<network> <netns>' : '<network>'}\n${USAGE}`);
  requireRoot(verb);
  const paths = pathsFrom(env);
  const [name, netnsArg] = argv as [string, string | undefined];
  const { list, errors } = findList(paths.netconf, name);
  if (!list) {
    const bad = errors.length ? ` (unreadable: ${errors.map((e) => e.message).join('; ')})` : '';
    throw new UserError(`no network named "${name}" in ${paths.netconf}${bad}: see "cnictl network ls"`);
  }
  const runtime = new Runtime(paths.cniPath, paths.cacheDir, env);
  if (verb === 'status') {
    const checked = runtime.status(list);
    out(checked ? `network "${name}": ready` : `network "${name}": cniVersion ${list.cniVersion || '0.1.0'} has no STATUS; nothing to check`);
    return 0;
  }
  if (verb === 'gc') {
    const r = runtime.gc(list, (e) => !e.netns || existsSync(e.netns));
    for (const e of r.removed) out(`removed stale attachment ${e.containerId} ${e.ifName} (netns ${e.netns} is gone)`);
    if (r.errors.length) throw new UserError(r.errors.map((e) => e.message).join('; '));
    return 0;
  }
  const netns = resolve(netnsArg!);
  const rt: RuntimeConf = {
    containerId: env.CNI_CONTAINERID || cnitoolContainerId(netns),
    netns,
    ifname: env.CNI_IFNAME || 'eth0',
  };
  if (env.CNI_ARGS) {
    try {
      rt.args = parseCnitoolArgs(env.CNI_ARGS);
    } catch (e) {
      throw new UserError(`CNI_ARGS: ${(e as Error).message}`);
    }
  }
  if (env.CAP_ARGS) {
    let caps: unknown;
    try {
      caps = JSON.parse(env.CAP_ARGS);
    } catch (e) {
      throw new UserError(`CAP_ARGS is not JSON (${(e as Error).message}): give an object such as {"portMappings":[...]}`);
    }
    if (!isObject(caps)) throw new UserError(`CAP_ARGS must be a JSON object, got ${env.CAP_ARGS}`);
    rt.capabilityArgs = caps as Obj;
  }
  if (verb === 'add') {
    if (!existsSync(netns)) throw new UserError(`netns ${netns} does not exist: create it first (ip netns add NAME gives /run/netns/NAME)`);
    try {
      out(printJSON(runtime.add(list, rt)));
    } catch (e) {
      try {
        runtime.del(list, rt); // nothing half-created
      } catch {
        /* the ADD error is the one to report */
      }
      throw new UserError((e as Error).message);
    }
    return 0;
  }
  // CHECK and DEL: the arguments of the ADD when none are given now
  const cached = runtime.cachedEntry(list, rt);
  if (!env.CAP_ARGS && cached?.capabilityArgs) rt.capabilityArgs = cached.capabilityArgs;
  if (!env.CNI_ARGS && cached?.cniArgs) rt.args = cached.cniArgs;
  try {
    if (verb === 'check') runtime.check(list, rt);
    else runtime.del(list, rt);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  return 0;
}
