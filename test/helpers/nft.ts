/** Reading DNATs in `nft list ruleset` text, whichever portmap layout made them. */

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Any per-container DNAT: a DNAT map element (`tcp . 8080 comment "…" : 10.88.0.2 . 80`) or a rule `dnat [ip] to
 * 10.88.0.2:80`. portmap's shared dispatch rules (`dnat ip to ip daddr . … map @cnits_dnat_hostip`) do not match.
 */
export const NFT_DNAT = /: [0-9a-f.:]+ \. \d+\b|dnat (ip6? )?to [0-9a-f[]/;

/** A DNAT to addr:port (map element or rule). */
export const nftDnatTo = (addr: string, port: number): RegExp => new RegExp(`(: ${esc(addr)} \\. ${port}|dnat (ip6? )?to \\[?${esc(addr)}\\]?:${port})\\b`);

/** A host port in nft or iptables text: a map key (`tcp . 8080`), a rule match (`dport 8080`) or `--dport 8080`. */
export const hostPortRe = (port: number): RegExp => new RegExp(`(tcp \\. |dport )${port}\\b`);
