/**
 * static IPAM: returns the addresses, routes and DNS the config (or the runtime) names; allocates nothing, keeps no
 * state. Drop-in for the reference's plugins/ipam/static.
 */
import { parseCniArgs } from '../../lib/cni/args.js';
import { pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { ipEqual, parseCIDR, parseIP } from '../../lib/ip.js';
import { parseStaticConfig, staticIps } from './config.js';

const configOf = (ctx: CniContext) => parseStaticConfig(ctx.conf, parseCniArgs(ctx.args, ['IP', 'GATEWAY']));

function add(ctx: CniContext): Result {
  const cfg = configOf(ctx);
  const result: Result = { cniVersion: ctx.conf.cniVersion };
  if (cfg.addresses.length) result.ips = staticIps(cfg.addresses);
  if (cfg.routes.length) result.routes = cfg.routes;
  if (Object.keys(cfg.dns).length) result.dns = cfg.dns;
  return result;
}

/** CHECK: every configured address is in prevResult, with the configured gateway. */
function check(ctx: CniContext): void {
  const cfg = configOf(ctx);
  const prev = ctx.conf.prevResult;
  if (!prev) throw pluginError('Required prevResult missing');
  for (const a of cfg.addresses) {
    const found = (prev.ips ?? []).find((ip) => {
      const c = parseCIDR(ip.address);
      return c !== undefined && ipEqual(c.ip, a.cidr.ip);
    });
    const shown = staticIps([a])[0]!.address;
    if (!found) throw pluginError(`static: Failed to find addr ${shown} in prevResult (interface ${ctx.ifname})`);
    const gw = found.gateway ? parseIP(found.gateway) : undefined;
    if (a.gateway && !(gw && ipEqual(gw, a.gateway))) throw pluginError(`static: Failed to match addr ${shown.split('/')[0]} on interface ${ctx.ifname}`);
  }
}

/** Nothing was allocated: DEL always succeeds, whatever the config says now. */
const del = (): void => undefined;

export const plugin: Plugin = { name: 'static', add, del, check, status: () => undefined, gc: () => undefined };
