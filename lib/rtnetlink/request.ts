/**
 * A request as iproute2 would send it, before the names in it are looked up: the message type and flags, the family
 * header, and the attributes in the order iproute2 adds them, some still naming a device or a network namespace.
 * Building the final bytes resolves those in that same order (so a command with two bad names fails on the one `ip`
 * would name) through a `Resolver` (lib/rtnetlink/run.ts asks the kernel; unit tests pass a table). Pure.
 */
import { RTA, RTM } from './consts.js';
import { message, i32, u32, NLM_F_ACK, NLM_F_REQUEST, type Attr } from './wire.js';

/** What `ip` does when a name does not resolve: print `text`, then fail the command or end the whole run. */
export interface Missing {
  /** true: ip exits at once (invarg, exit(nodev())) with `status`; false: the command fails (batch: "Command failed"). */
  abort: boolean;
  status: number;
  text: string;
}

export type Item =
  | { k: 'attr'; type: number; value: Uint8Array }
  | { k: 'nest'; type: number; items: Item[]; header?: Uint8Array }
  /** u32 ifindex of a device (IFLA_MASTER, IFLA_LINK, RTA_OIF, IFLA_VXLAN_LINK, ...). */
  | { k: 'ifindex'; type: number; dev: string; missing: Missing }
  /** The family header's index (offset 4 in ifinfomsg, ifaddrmsg, ndmsg): the device the request is about. */
  | { k: 'hdrindex'; dev: string; missing: Missing }
  /** u32 fd of a network namespace (IFLA_NET_NS_FD). */
  | { k: 'nsfd'; type: number; ns: string; missing: Missing }
  /** i32 id the request's namespace has for another one (IFLA_LINK_NETNSID), assigned when it has none. */
  | { k: 'nsid'; type: number; ns: string; missing: Missing };

/** How `ip` reacts to the kernel refusing the request. */
export type KernelErrorMode =
  /** return -2: exit status 2, or "Command failed" in a batch (ip link/addr/route/rule) */
  | 'fail2'
  /** return -1: exit status 1, or "Command failed" in a batch (bridge fdb/vlan) */
  | 'fail1'
  /** exit(2) at once, even in a batch with -force (ip neigh) */
  | 'abort2';

export interface Request {
  kind: 'request';
  type: number;
  /** NLM_F_* besides REQUEST and ACK (CREATE, EXCL, REPLACE, APPEND). */
  flags: number;
  /** The family header (ifinfomsg, ifaddrmsg, rtmsg, fib_rule_hdr, ndmsg), index 0 until resolved. */
  header: Uint8Array;
  items: Item[];
  onKernelError: KernelErrorMode;
}

/** Thrown by a resolver: the text `ip` prints and what it does next. */
export class Unresolved extends Error {
  constructor(readonly missing: Missing) {
    super(missing.text.trim());
  }
}

export interface Resolver {
  /** The ifindex of `dev` in the request's namespace; 0 when there is none. */
  ifindex(dev: string): number;
  /** An open fd of the namespace `ns` (a path, or a name under /run/netns); -1 when it cannot be opened. */
  nsfd(ns: string): number;
  /** The id the request's namespace has (or is given) for `ns`; -1 when there is none. */
  nsid(ns: string): number;
}

function resolveItems(items: readonly Item[], r: Resolver, header: Uint8Array): Attr[] {
  const out: Attr[] = [];
  for (const it of items) {
    switch (it.k) {
      case 'attr':
        out.push([it.type, it.value]);
        break;
      case 'nest': {
        const inner = resolveItems(it.items, r, header);
        if (it.header) {
          // a nested message header (veth peer's ifinfomsg) followed by its attributes: an opaque payload
          const body = message(0, 0, it.header, inner).subarray(16);
          out.push([it.type, body]);
        } else out.push([it.type, inner]);
        break;
      }
      case 'ifindex': {
        const idx = r.ifindex(it.dev);
        if (!idx) throw new Unresolved(it.missing);
        out.push([it.type, u32(idx)]);
        break;
      }
      case 'hdrindex': {
        const idx = r.ifindex(it.dev);
        if (!idx) throw new Unresolved(it.missing);
        new DataView(header.buffer, header.byteOffset, header.length).setInt32(4, idx, true);
        break;
      }
      case 'nsfd': {
        const fd = r.nsfd(it.ns);
        if (fd < 0) throw new Unresolved(it.missing);
        out.push([it.type, u32(fd)]);
        break;
      }
      case 'nsid': {
        const id = r.nsid(it.ns);
        if (id < 0) throw new Unresolved(it.missing);
        out.push([it.type, i32(id)]);
        break;
      }
    }
  }
  return out;
}

/** The request's bytes (NLM_F_REQUEST | NLM_F_ACK | flags), names resolved in order; throws `Unresolved`. */
export function buildRequest(req: Request, r: Resolver): Uint8Array {
  const header = req.header.slice();
  const attrs = resolveItems(req.items, r, header);
  return message(req.type, NLM_F_REQUEST | NLM_F_ACK | req.flags, header, attrs);
}

/** The devices and namespaces a request names (for tests and traces). */
export function namesIn(items: readonly Item[]): string[] {
  return items.flatMap((it) => (it.k === 'nest' ? namesIn(it.items) : it.k === 'ifindex' || it.k === 'hdrindex' ? [it.dev] : it.k === 'nsfd' || it.k === 'nsid' ? [it.ns] : []));
}

/** `ip route get`'s RTM_GETROUTE (iproute_get: no ACK asked, the answer is the route). */
export const routeGetMessage = (c: { header: Uint8Array; dst: Uint8Array }): Uint8Array => message(RTM.GETROUTE, NLM_F_REQUEST, c.header, [[RTA.DST, c.dst]]);
