/**
 * The nftables ruleset generation over NETLINK_NETFILTER (nfnetlink), on the client's socket (socket.ts): one
 * NFT_MSG_GETGEN round trip. The generation changes with every ruleset change (nft, iptables-nft, firewalld…), so an
 * unchanged one means no rule anywhere in nf_tables was added, removed or changed — what lets cni-ts-agent skip
 * reading the firewall on a resync (agent/forward.ts). Request and parsing are pure (unit-tested).
 */
import { NETLINK_NETFILTER, NetlinkSocket } from './socket.js';
import { attrList, message, NLM_F_REQUEST, type Message } from './wire.js';

const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWGEN = 15;
const NFT_MSG_GETGEN = 16;
const NFTA_GEN_ID = 1;
const AF_UNSPEC = 0;
const NFGENMSG_LEN = 4;

const nftType = (msg: number): number => (NFNL_SUBSYS_NFTABLES << 8) | msg;

/** NFT_MSG_GETGEN as libnftables sends it (mnl_genid_get): struct nfgenmsg (AF_UNSPEC, version 0, res_id 0), no ACK. */
export const nftGetGenRequest = (): Uint8Array => message(nftType(NFT_MSG_GETGEN), NLM_F_REQUEST, Uint8Array.of(AF_UNSPEC, 0, 0, 0));

/** The generation id of an NFT_MSG_NEWGEN answer (NFTA_GEN_ID, a big-endian u32), or undefined for anything else. */
export function nftGenerationOf(m: Message): number | undefined {
  if (m.type !== nftType(NFT_MSG_NEWGEN)) return undefined;
  const id = attrList(m.payload, NFGENMSG_LEN).find(([t]) => t === NFTA_GEN_ID)?.[1];
  return id && id.length >= 4 ? new DataView(id.buffer, id.byteOffset, 4).getUint32(0, false) : undefined;
}

/**
 * The nftables ruleset generation of the netns at `netnsPath` (undefined: this thread's), or undefined where it cannot
 * be read in-process (no FFI: under Node or with CNI_TS_NO_FFI=1; no nf_tables in the kernel; the socket failed).
 */
export function nftGeneration(netnsPath?: string): number | undefined {
  let sock: NetlinkSocket | undefined;
  try {
    sock = NetlinkSocket.forNetns(netnsPath, NETLINK_NETFILTER);
    if (!sock) return undefined;
    const r = sock.get(nftGetGenRequest());
    return 'payload' in r ? nftGenerationOf(r) : undefined;
  } catch {
    sock?.close(); // its state is unknown: the next call opens a new one
    return undefined;
  }
}
