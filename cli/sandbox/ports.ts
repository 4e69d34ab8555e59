/** `-p` / `--publish` in Docker's forms, and Docker's `port` output. Pure. */
import { formatIP, parseIP } from '../../lib/ip.js';
import { UserError } from '../util/errors.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface PortMapping {
  hostIP: string;
  /** 0 until a free port is chosen. */
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
  /** `-p 9100-9102:80`: the host port is the first free one of this range (inclusive). */
  hostRange?: [number, number];
}

const port = (s: string, spec: string, what: string, zero = false): number => {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < (zero ? 0 : 1) || n > 65535) throw new UserError(`invalid -p ${spec}: ${what} ${JSON.stringify(s)} is not a port number (${zero ? 0 : 1}-65535)`);
  return n;
};

function range(s: string, spec: string, what: string): number[] {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (!m) return [port(s, spec, what, what === 'host port')];
  const a = port(m[1]!, spec, what);
  const b = port(m[2]!, spec, what);
  if (b < a) throw new UserError(`invalid -p ${spec}: ${what} range ${s} ends before it starts`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/**
 * `[ip:][hostPort:]containerPort[/proto]`, `ip::containerPort`, ranges (`8080-8081:80-81`), IPv6 host IPs in
 * brackets (`[::1]:8080:80`). A missing host port (or 0) is 0: choose a free one. A host range for one container
 * port (`9100-9102:80`) is the first free port of that range, as Docker does.
 */
export function parsePublish(spec: string): PortMapping[] {
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw new UserError(`invalid -p ${spec}: protocol ${JSON.stringify(p)} is not tcp, udp or sctp`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIP = '';
  const br = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  let parts: string[];
  if (br) {
    hostIP = br[1]!;
    parts = br[2]!.split(':');
    if (parts.length !== 2) throw new UserError(`invalid -p ${spec}: expected [IP]:hostPort:containerPort`);
  } else {
    parts = rest.split(':');
    if (parts.length === 3) hostIP = parts.shift()!;
    else if (parts.length > 3) throw new UserError(`invalid -p ${spec}: too many ":" (IPv6 host addresses go in brackets, e.g. [::1]:8080:80)`);
  }
  if (hostIP && !parseIP(hostIP)) throw new UserError(`invalid -p ${spec}: host IP ${JSON.stringify(hostIP)} is not an IP address`);
  const [hostPart, ctrPart] = parts.length === 2 ? [parts[0]!, parts[1]!] : ['', parts[0]!];
  if (ctrPart === '') throw new UserError(`invalid -p ${spec}: no container port`);
  const ctr = range(ctrPart, spec, 'container port');
  const host = hostPart === '' ? ctr.map(() => 0) : range(hostPart, spec, 'host port');
  if (ctr.length === 1 && host.length > 1) return [{ hostIP, hostPort: 0, containerPort: ctr[0]!, protocol, hostRange: [host[0]!, host[host.length - 1]!] }];
  if (host.length !== ctr.length) throw new UserError(`invalid -p ${spec}: host range and container range differ in length`);
  return ctr.map((c, i) => ({ hostIP, hostPort: host[i]!, containerPort: c, protocol }));
}

/** Do two mappings claim the same host port (an unspecified host IP claims all of that family's)? */
export function conflicts(a: PortMapping, b: PortMapping): boolean {
  if (a.protocol !== b.protocol || a.hostPort !== b.hostPort || a.hostPort === 0) return false;
  const wild = (ip: string) => ip === '' || ip === '0.0.0.0' || ip === '::';
  return wild(a.hostIP) || wild(b.hostIP) || a.hostIP === b.hostIP;
}

/** The capability args portmap takes. */
export const portMappingsArg = (ports: readonly PortMapping[]): Array<Record<string, unknown>> =>
  ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, ...(p.hostIP ? { hostIP: p.hostIP } : {}) }));

/** Docker's `port` lines: "80/tcp -> 0.0.0.0:8080" (and "[::]:8080" when the sandbox has IPv6). */
export function portLines(ports: readonly PortMapping[], ipv6: boolean): string[] {
  const out: string[] = [];
  for (const p of ports) {
    const left = `${p.containerPort}/${p.protocol}`;
    if (p.hostIP) out.push(`${left} -> ${p.hostIP.includes(':') ? `[${p.hostIP}]` : p.hostIP}:${p.hostPort}`);
    else {
      out.push(`${left} -> 0.0.0.0:${p.hostPort}`);
      if (ipv6) out.push(`${left} -> [::]:${p.hostPort}`);
    }
  }
  return out;
}

/** Docker's PORTS column: "0.0.0.0:8080->80/tcp". */
export const portsColumn = (ports: readonly PortMapping[]): string =>
  ports.map((p) => `${p.hostIP ? (p.hostIP.includes(':') ? `[${p.hostIP}]` : p.hostIP) : '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ');

const showMapping = (m: PortMapping): string => `${m.hostIP.includes(':') ? `[${m.hostIP}]` : m.hostIP}:${m.hostPort || ''}:${m.containerPort}/${m.protocol}`;

/**
 * Host addresses of -p that can be honoured (Docker refuses the rest when it binds: "cannot assign requested
 * address"): a specific address must be one of this host's (`hostAddresses`, normalised), and an IPv6 one (`::`
 * included) needs a network with IPv6 — there is nothing to forward it to on an IPv4-only network.
 */
export function checkHostAddresses(ports: readonly PortMapping[], hostAddresses: ReadonlySet<string>, network: { name: string; ipv6: boolean }): void {
  for (const m of ports) {
    if (!m.hostIP) continue;
    const ip = parseIP(m.hostIP);
    if (!ip) continue; // parsePublish refused it already
    if (ip.family === 6 && !network.ipv6) {
      throw new UserError(`-p ${showMapping(m)}: network ${network.name} has no IPv6 subnet, so nothing can be published on the IPv6 address ${m.hostIP}: use an IPv4 address, or a network created with --ipv6`);
    }
    if (ip.value === 0n) continue; // 0.0.0.0 / ::: every address of the family
    if (!hostAddresses.has(formatIP(ip))) {
      throw new UserError(`-p ${showMapping(m)}: ${m.hostIP} is not an address of this host (cannot assign requested address): publish on one of its addresses, or leave the address out`);
    }
  }
}
