/**
 * The dhcp IPAM config (`ipam.daemonSocketPath`, `ipam.provide`, `ipam.request`) and the DHCP options a lease sends,
 * as the reference's prepareOptions builds them. Pure; the plugin validates with it before calling the daemon, the
 * daemon again (a reference plugin does not validate).
 */
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import { isObject, type Obj } from '../../lib/cni/fields.js';
import { Opt, type ClientOptions } from './dhcp4.js';

export const DEFAULT_SOCKET_PATH = '/run/cni/dhcp.sock';

/** The option names the reference accepts besides numbers 0-255 (dhcp-options(5) spelling). */
export const OPTION_NAMES: Readonly<Record<string, number>> = {
  'dhcp-client-identifier': Opt.CLIENT_ID,
  'subnet-mask': Opt.SUBNET_MASK,
  routers: Opt.ROUTER,
  'host-name': Opt.HOST_NAME,
  'user-class': Opt.USER_CLASS,
  'vendor-class-identifier': Opt.VENDOR_CLASS_ID,
};

export interface ProvideOption {
  code: number;
  value?: string;
  fromArg?: string;
}

export interface DhcpConf {
  socketPath: string;
  provide: ProvideOption[];
  request: number[];
  /** Some `request` entry had skipDefault: router and subnet mask are not requested unless listed. */
  skipDefault: boolean;
}

const bad = (msg: string): CniError => new CniError(ErrorCode.InvalidNetworkConfig, msg);

/** An option given as a name or a decimal code (0-255). */
export function optionCode(v: unknown, where: string): number {
  if (typeof v !== 'string' || v === '') throw bad(`${where} must be a DHCP option: a number 0-255 or one of ${Object.keys(OPTION_NAMES).join(', ')}`);
  const named = OPTION_NAMES[v];
  if (named !== undefined) return named;
  if (!/^\d{1,3}$/.test(v) || Number(v) > 255) {
    throw bad(`${where} ${JSON.stringify(v)} is not a DHCP option: use a number 0-255 or one of ${Object.keys(OPTION_NAMES).join(', ')}`);
  }
  return Number(v);
}

/** The ipam section of a dhcp config, validated (errors name the key and value; code 7). */
export function parseDhcpConf(raw: Obj): DhcpConf {
  const ipam = raw.ipam;
  if (!isObject(ipam)) throw bad('dhcp: "ipam" must be an object');
  const sock = ipam.daemonSocketPath;
  if (sock !== undefined && sock !== null && typeof sock !== 'string') throw bad(`ipam: "daemonSocketPath" must be a string, got ${JSON.stringify(sock)}`);
  const list = (key: string): Obj[] => {
    const v = ipam[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => !isObject(x))) throw bad(`ipam: "${key}" must be a list of objects, got ${JSON.stringify(v)}`);
    return v as Obj[];
  };
  const str = (o: Obj, k: string, where: string): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw bad(`${where}.${k} must be a string, got ${JSON.stringify(v)}`);
    return v;
  };
  const provide = list('provide').map((o, i) => {
    const where = `ipam: "provide"[${i}]`;
    const p: ProvideOption = { code: optionCode(o.option, `${where}.option`) };
    const value = str(o, 'value', where);
    if (value && Buffer.byteLength(value) > 255) throw bad(`${where}.value is ${Buffer.byteLength(value)} bytes long, at most 255`);
    if (value) p.value = value;
    const fromArg = str(o, 'fromArg', where);
    if (fromArg) p.fromArg = fromArg;
    return p;
  });
  let skipDefault = false;
  const request = list('request').map((o, i) => {
    const where = `ipam: "request"[${i}]`;
    if (o.skipDefault !== undefined && o.skipDefault !== null && typeof o.skipDefault !== 'boolean') {
      throw bad(`${where}.skipDefault must be true or false, got ${JSON.stringify(o.skipDefault)}`);
    }
    if (o.skipDefault === true) skipDefault = true;
    return optionCode(o.option, `${where}.option`);
  });
  return { socketPath: typeof sock === 'string' && sock !== '' ? sock : DEFAULT_SOCKET_PATH, provide, request, skipDefault };
}

/** CNI_ARGS as the reference's prepareOptions reads them: "K=V" pairs split at the first "=", nothing rejected. */
export function cniArgsMap(args: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const pair of args.split(';')) {
    const i = pair.indexOf('=');
    if (i > 0 || (i === 0 && pair.length > 1)) m.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return m;
}

/**
 * What a lease sends: the client id, provided options (a `fromArg` found in CNI_ARGS wins over `value`), and the
 * parameter request list (router and subnet mask first unless skipDefault, then the requested ones, no repeats).
 */
export function clientOptions(conf: DhcpConf, cniArgs: string, clientId: Uint8Array): ClientOptions {
  const args = cniArgsMap(cniArgs);
  const provide = new Map<number, Uint8Array>();
  conf.provide.forEach((p, i) => {
    if (p.value) provide.set(p.code, Buffer.from(p.value));
    const fromArg = p.fromArg !== undefined ? args.get(p.fromArg) : undefined;
    if (fromArg !== undefined) {
      if (Buffer.byteLength(fromArg) > 255) throw bad(`ipam: "provide"[${i}]: the value of CNI_ARGS ${p.fromArg} is ${Buffer.byteLength(fromArg)} bytes long, at most 255`);
      provide.set(p.code, Buffer.from(fromArg));
    }
  });
  const request: number[] = [];
  for (const c of [...(conf.skipDefault ? [] : [Opt.SUBNET_MASK, Opt.ROUTER]), ...conf.request]) if (!request.includes(c)) request.push(c);
  return { clientId, provide, request };
}
