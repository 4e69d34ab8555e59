/**
 * The one rtnetlink request cni-ts makes itself instead of exec'ing `ip`: deleting a link by name (macvlan/ipvlan
 * DEL), through the executable's FFI (lib/native.ts) on a socket opened in the container's netns. Message building is
 * pure (unit-tested); anything more goes through iproute2 (lib/netns.ts).
 */
import { inNetns, type Libc } from './native.js';

const RTM_DELLINK = 17;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const IFLA_IFNAME = 3;
const align4 = (n: number): number => (n + 3) & ~3;

/** struct nlmsghdr + struct ifinfomsg + IFLA_IFNAME: "delete the link named `ifname`", with an ACK requested. */
export function delLinkMessage(ifname: string, seq = 1): Uint8Array {
  const name = Buffer.from(`${ifname}\0`);
  const attrLen = 4 + name.length;
  const total = 16 + 16 + align4(attrLen);
  const buf = new Uint8Array(total);
  const v = new DataView(buf.buffer);
  v.setUint32(0, total, true); // nlmsg_len
  v.setUint16(4, RTM_DELLINK, true); // nlmsg_type
  v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK, true); // nlmsg_flags
  v.setUint32(8, seq, true); // nlmsg_seq; nlmsg_pid 0; ifinfomsg all zero (AF_UNSPEC, index 0: by name)
  v.setUint16(32, attrLen, true); // rta_len
  v.setUint16(34, IFLA_IFNAME, true); // rta_type
  buf.set(name, 36);
  return buf;
}

const ENODEV = 19;

/** Delete `ifname` in the netns at `path`: true when deleted, false when there was no such link; throws otherwise. */
export function deleteLinkInNetns(c: Libc, path: string, ifname: string): boolean {
  const err = inNetns(c, path, () => c.rtnetlinkRequest(delLinkMessage(ifname)));
  if (err === 0) return true;
  if (err === -ENODEV) return false;
  throw new Error(`RTM_DELLINK ${ifname} in ${path}: errno ${-err}`);
}
