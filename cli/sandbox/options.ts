/** `cnictl run` options: parsed and checked against each other before anything is created. Pure. */
import { parseIP } from '../../lib/ip.js';
import { UserError } from '../util/errors.js';
import { parsePublish, type PortMapping } from './ports.js';

export type NetworkMode = { kind: 'networks'; names: string[] } | { kind: 'host' } | { kind: 'none' } | { kind: 'container'; target: string };

export const SANDBOX_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function parseNetworkMode(values: readonly string[], dflt: string): NetworkMode {
  const vs = values.length ? values : [dflt];
  const special = vs.filter((v) => v === 'host' || v === 'none' || v.startsWith('container:'));
  if (special.length && vs.length > 1) throw new UserError(`--network ${special[0]} cannot be combined with other networks (${vs.join(', ')})`);
  const v = vs[0]!;
  if (v === 'host') return { kind: 'host' };
  if (v === 'none') return { kind: 'none' };
  if (v.startsWith('container:')) {
    const target = v.slice('container:'.length);
    if (!target) throw new UserError('--network container: needs a sandbox name, e.g. --network container:web');
    return { kind: 'container', target };
  }
  const dup = vs.find((x, i) => vs.indexOf(x) !== i);
  if (dup) throw new UserError(`--network ${dup} given twice`);
  return { kind: 'networks', names: [...vs] };
}

export interface RunFlags {
  name?: string;
  networks: string[];
  publish: string[];
  ip?: string;
  hostname?: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions?: string[];
  addHosts: string[];
  mac?: string;
  /** --network-alias: names on the first network. */
  aliases?: string[];
  env?: string[];
  workdir?: string;
  interactive?: boolean;
  tty?: boolean;
  command: string[];
}

export interface CheckedRun {
  mode: NetworkMode;
  ports: PortMapping[];
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Docker's "conflicting options" rules, with the flag at fault named. */
export function checkRun(f: RunFlags, defaultNetwork: string): CheckedRun {
  if (f.command.length === 0) throw new UserError('"cnictl run" needs a command: cnictl run [OPTIONS] -- CMD [ARG...]');
  if (f.name !== undefined && !SANDBOX_NAME.test(f.name)) throw new UserError(`invalid --name ${JSON.stringify(f.name)}: use letters, digits, _ . - (starting with a letter or digit)`);
  const mode = parseNetworkMode(f.networks, defaultNetwork);
  const ports = f.publish.flatMap(parsePublish);
  const where = mode.kind === 'container' ? `--network container:${mode.target}` : `--network ${mode.kind}`;
  if (mode.kind !== 'networks') {
    if (ports.length) throw new UserError(`-p ${f.publish[0]}: ports cannot be published with ${where} (there is no network of its own to map to)`);
    if (f.ip) throw new UserError(`--ip ${f.ip} needs a named network, not ${where}`);
    if (f.mac) throw new UserError(`--mac-address ${f.mac} needs a named network, not ${where}`);
  }
  if ((mode.kind === 'host' || mode.kind === 'container') && f.hostname) throw new UserError(`--hostname ${f.hostname} conflicts with ${where} (the hostname is shared)`);
  if (mode.kind === 'container' && (f.dns.length || f.dnsSearch.length || f.dnsOptions?.length || f.addHosts.length)) {
    throw new UserError(`--dns, --dns-search, --dns-option and --add-host conflict with ${where} (its /etc/hosts and resolv.conf are shared)`);
  }
  if (f.aliases?.length && (mode.kind !== 'networks' || mode.names[0] === defaultNetwork)) {
    throw new UserError(`--network-alias ${f.aliases[0]}: network-scoped aliases are only supported on user-defined networks, not ${mode.kind === 'networks' ? `the default network ${defaultNetwork}` : where}`);
  }
  for (const a of f.aliases ?? []) if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(a)) throw new UserError(`invalid --network-alias ${JSON.stringify(a)}: use letters, digits, _ . -`);
  for (const e of f.env ?? []) if (e === '' || e.startsWith('=')) throw new UserError(`invalid --env ${JSON.stringify(e)}: expected KEY=VALUE or KEY`);
  if (f.workdir !== undefined && !f.workdir.startsWith('/')) throw new UserError(`invalid --workdir ${JSON.stringify(f.workdir)}: the working directory must be an absolute path`);
  if (f.ip !== undefined && !parseIP(f.ip)) throw new UserError(`invalid --ip ${JSON.stringify(f.ip)}: not an IP address`);
  if (f.mac !== undefined) {
    if (!MAC.test(f.mac)) throw new UserError(`invalid --mac-address ${JSON.stringify(f.mac)}: expected six hex pairs, e.g. 02:42:ac:11:00:02`);
    if (parseInt(f.mac.slice(0, 2), 16) & 1) throw new UserError(`invalid --mac-address ${f.mac}: a multicast address (the first byte is odd)`);
  }
  if (f.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(f.hostname)) throw new UserError(`invalid --hostname ${JSON.stringify(f.hostname)}`);
  // a --hostname with a domain is the FQDN (kernel hostname "web.example.test", hosts entry "IP web.example.test web")
  if (f.hostname !== undefined && f.hostname.endsWith('.')) throw new UserError(`invalid --hostname ${JSON.stringify(f.hostname)}: it ends with "."`);
  return { mode, ports };
}
