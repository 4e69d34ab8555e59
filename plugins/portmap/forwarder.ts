/** What a portmap backend (nftables or iptables) does. */
import type { Family } from '../../lib/ip.js';
import type { ContainerAddress, PortMapConf } from './config.js';

export interface Removed {
  /** UDP host ports that were forwarded, per family (their conntrack entries are flushed). */
  udpPorts: Map<Family, number[]>;
}

export interface Forwarder {
  add(conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): void;
  /** `addrs` undefined when DEL came without prevResult. */
  del(conf: PortMapConf, containerId: string, addrs: ContainerAddress[] | undefined): Removed;
  check(conf: PortMapConf, containerId: string, addrs: ContainerAddress[]): void;
  /** Remove this network's attachments whose container ID is not in `keep`. */
  gc(conf: PortMapConf, keep: Set<string>): void;
}
