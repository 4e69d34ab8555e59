/**
 * dhcp IPAM: addresses from the LAN's DHCP server, through the dhcp daemon (`dhcp daemon`, daemon.ts), which runs the
 * DHCP client inside the container's netns and keeps the lease. The plugin asks it over its socket
 * (`ipam.daemonSocketPath`, default /run/cni/dhcp.sock) with the reference's protocol, so it works with our daemon
 * and with the reference's.
 */
import { resolve } from 'node:path';
import { CniError, ErrorCode, pluginError } from '../../lib/cni/errors.js';
import type { Result } from '../../lib/cni/result.js';
import type { CniContext, Plugin } from '../../lib/cni/skel.js';
import { callDaemon } from './client.js';
import { DEFAULT_SOCKET_PATH, parseDhcpConf } from './config.js';
import { METHOD_ALLOCATE, METHOD_CHECK, METHOD_RELEASE, resultFromGob, type CmdArgs } from './rpc.js';
import * as sys from './sys.js';

/** skel.CmdArgs as the reference plugin sends them (the netns made absolute: the daemon runs elsewhere). */
const cmdArgs = (ctx: CniContext): CmdArgs => ({
  ContainerID: ctx.containerId,
  Netns: resolve(ctx.netns),
  IfName: ctx.ifname,
  Args: ctx.args,
  Path: ctx.path.join(':'),
  StdinData: new Uint8Array(ctx.stdin),
});

/** The daemon's socket: all DEL needs of the config (it must work with a config that no longer validates). */
function socketPath(ctx: CniContext): string {
  const p = ctx.conf.ipam?.daemonSocketPath;
  if (p !== undefined && p !== null && typeof p !== 'string') throw new CniError(ErrorCode.InvalidNetworkConfig, `ipam: "daemonSocketPath" must be a string, got ${JSON.stringify(p)}`);
  return typeof p === 'string' && p !== '' ? p : DEFAULT_SOCKET_PATH;
}

function call(ctx: CniContext, method: string): ReturnType<typeof callDaemon> {
  return callDaemon(socketPath(ctx), method, cmdArgs(ctx));
}

function add(ctx: CniContext): Result {
  parseDhcpConf(ctx.conf.raw); // bad options are the config's error, before the daemon acquires anything
  const answer = call(ctx, METHOD_ALLOCATE);
  if (answer.error) throw pluginError(`error calling ${METHOD_ALLOCATE}: ${answer.error}`);
  const result = resultFromGob(answer.body, ctx.conf.cniVersion);
  if (!result.ips?.length) throw pluginError(`error calling ${METHOD_ALLOCATE}: the DHCP daemon returned no address`);
  return result;
}

function del(ctx: CniContext): void {
  const answer = call(ctx, METHOD_RELEASE);
  if (answer.error) throw pluginError(`error calling ${METHOD_RELEASE}: ${answer.error}`);
}

/**
 * CHECK asks our daemon whether it keeps the lease (DHCP.Check), which never acquires one. The reference plugin calls
 * DHCP.Allocate, which in the reference daemon 1.1.1 starts a second lease keeper for every CHECK (one that renews
 * even after DEL released the first); with such a daemon (it answers "can't find method") CHECK only verifies that
 * the daemon answers.
 */
function check(ctx: CniContext): void {
  parseDhcpConf(ctx.conf.raw);
  const answer = call(ctx, METHOD_CHECK);
  if (answer.error && !/can't find method/.test(answer.error)) throw pluginError(`error calling ${METHOD_CHECK}: ${answer.error}`);
}

/** STATUS: the daemon's socket accepts connections. */
function status(ctx: CniContext): void {
  const path = socketPath(ctx);
  try {
    sys.close(sys.connectUnix(path));
  } catch (e) {
    throw new CniError(ErrorCode.PluginNotAvailable, `the DHCP daemon is not reachable at ${path}`, (e as Error).message);
  }
}

export const plugin: Plugin = { name: 'dhcp', add, del, check, status };
