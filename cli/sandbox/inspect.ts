/**
 * A sandbox as `docker inspect` shows a container, for what networking users read (and their --format templates):
 * Id, Name ("/NAME"), State, Config (Hostname, Cmd, Env, Tty…), HostConfig (NetworkMode, PortBindings, Dns…),
 * NetworkSettings (Ports, Networks.<net>.IPAddress/IPPrefixLen/Gateway/MacAddress/GlobalIPv6Address/Aliases/
 * NetworkID…). Objects that are maps in Docker (Ports, PortBindings, Networks) are marked as maps for templates.
 * Pure.
 */
import { DEFAULT_NETWORK } from '../network/model.js';
import { asMap } from '../util/template.js';
import { parsePublish, type PortMapping } from './ports.js';
import type { SandboxState } from './state.js';

export interface NetworkFacts {
  id: string;
  gateway4?: string;
  gateway6?: string;
}

export interface InspectInput {
  s: SandboxState;
  /** Facts of a network by name (undefined when it is gone). */
  network: (name: string) => NetworkFacts | undefined;
  files: { resolv: string; hosts: string; hostname: string; log: string };
  /** Is the command really running (the record says so and its supervisor lives)? */
  running: boolean;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const split = (cidr: string | undefined): [string, number] => (cidr ? [cidr.split('/')[0]!, Number(cidr.split('/')[1] ?? (cidr.includes(':') ? 128 : 32))] : ['', 0]);

/** -p as recorded: the specs given (older records: the resolved ports). */
export const publishSpecs = (s: SandboxState): string[] =>
  s.publish ?? s.ports.map((p) => `${p.hostIP ? `${p.hostIP.includes(':') ? `[${p.hostIP}]` : p.hostIP}:` : ''}${p.hostPort}:${p.containerPort}/${p.protocol}`);

function portMap(ports: readonly PortMapping[], hostIpDefault: string, range = false): Record<string, Array<{ HostIp: string; HostPort: string }>> {
  const m: Record<string, Array<{ HostIp: string; HostPort: string }>> = asMap({});
  for (const p of ports) {
    const key = `${p.containerPort}/${p.protocol}`;
    const hostPort = range && p.hostRange ? `${p.hostRange[0]}-${p.hostRange[1]}` : p.hostPort ? String(p.hostPort) : '';
    (m[key] ??= []).push({ HostIp: p.hostIP || hostIpDefault, HostPort: hostPort });
  }
  return m;
}

export function inspectSandbox({ s, network, files, running }: InspectInput): Record<string, unknown> {
  const status = running ? 'running' : s.status === 'creating' ? 'created' : 'exited';
  const networkMode = s.mode === 'network' ? (s.attachments[0]?.network ?? DEFAULT_NETWORK) : s.mode === 'container' ? `container:${s.target ?? ''}` : s.mode;
  const networks: Record<string, unknown> = asMap({});
  if (s.mode === 'host' || s.mode === 'none') networks[s.mode] = endpoint(s, s.mode, network(s.mode), undefined);
  for (const a of s.attachments) networks[a.network] = endpoint(s, a.network, network(a.network), a);
  const def = s.attachments.find((a) => a.network === DEFAULT_NETWORK);
  const defFacts = def ? network(DEFAULT_NETWORK) : undefined;
  const [ip4, len4] = split(def?.ips.find((c) => !c.includes(':')));
  const [ip6, len6] = split(def?.ips.find((c) => c.includes(':')));
  return {
    Id: s.id,
    Created: s.created,
    Path: s.command[0] ?? '',
    Args: s.command.slice(1),
    State: {
      Status: status,
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: running ? (s.pid?.pid ?? 0) : 0,
      ExitCode: running ? 0 : (s.exitCode ?? 0),
      Error: '',
      StartedAt: s.started ?? (s.status === 'creating' ? ZERO_TIME : s.created),
      FinishedAt: running ? ZERO_TIME : (s.finished ?? ZERO_TIME),
    },
    ResolvConfPath: files.resolv,
    HostnamePath: files.hostname,
    HostsPath: files.hosts,
    LogPath: s.detached ? files.log : '',
    Name: `/${s.name}`,
    HostConfig: {
      NetworkMode: networkMode,
      PortBindings: portMap(publishSpecs(s).flatMap((p) => {
        try {
          return parsePublish(p);
        } catch {
          return [];
        }
      }), '', true),
      AutoRemove: s.autoRemove,
      Dns: s.dns,
      DnsOptions: s.dnsOptions ?? [],
      DnsSearch: s.dnsSearch,
      ExtraHosts: s.addHosts.length ? s.addHosts : null,
    },
    Config: {
      Hostname: s.hostname,
      Domainname: '',
      AttachStdin: !s.detached && !!s.interactive,
      AttachStdout: !s.detached,
      AttachStderr: !s.detached,
      Tty: !!s.tty,
      OpenStdin: !!s.interactive,
      Env: s.env ?? [],
      Cmd: s.command,
      WorkingDir: s.workdir ?? '',
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: s.id,
      SandboxKey: s.netns ?? '',
      Ports: running ? portMap(s.ports, '0.0.0.0') : asMap({}),
      Gateway: defFacts?.gateway4 ?? '',
      IPAddress: ip4,
      IPPrefixLen: len4,
      IPv6Gateway: def && ip6 ? (defFacts?.gateway6 ?? '') : '',
      GlobalIPv6Address: ip6,
      GlobalIPv6PrefixLen: len6,
      MacAddress: def?.mac ?? '',
      Networks: networks,
    },
  };
}

function endpoint(s: SandboxState, name: string, facts: NetworkFacts | undefined, a: SandboxState['attachments'][number] | undefined): Record<string, unknown> {
  const [ip4, len4] = split(a?.ips.find((c) => !c.includes(':')));
  const [ip6, len6] = split(a?.ips.find((c) => c.includes(':')));
  const userNet = !!a && name !== DEFAULT_NETWORK;
  return {
    IPAMConfig: ipamConfig(a),
    Links: null,
    Aliases: a?.aliases?.length ? a.aliases : null,
    MacAddress: a?.mac ?? '',
    NetworkID: facts?.id ?? '',
    EndpointID: '',
    Gateway: ip4 ? (facts?.gateway4 ?? '') : '',
    IPAddress: ip4,
    IPPrefixLen: len4,
    IPv6Gateway: ip6 ? (facts?.gateway6 ?? '') : '',
    GlobalIPv6Address: ip6,
    GlobalIPv6PrefixLen: len6,
    /** What resolves to it from the sandboxes on this network (cnictl: their /etc/hosts). */
    DNSNames: userNet ? [s.name, ...(a?.aliases ?? [])] : null,
    /** cnictl: the interface in the sandbox. */
    InterfaceName: a?.ifname ?? '',
  };
}

/** Docker's IPAMConfig: the addresses asked for (--ip, ip=, ip6=), or null. */
function ipamConfig(a: SandboxState['attachments'][number] | undefined): Record<string, string> | null {
  const asked = [a?.requestedIp, a?.requestedIp6].filter((v): v is string => !!v);
  if (!asked.length) return null;
  const out: Record<string, string> = {};
  for (const ip of asked) out[ip.includes(':') ? 'IPv6Address' : 'IPv4Address'] = ip;
  return out;
}
