/** On-host names shared with the reference plugins (so either can clean up after the other). */
import { createHash } from 'node:crypto';

export const sha512Hex = (s: string): string => createHash('sha512').update(s).digest('hex');

/** utils.MustFormatHashWithPrefix: `prefix` + sha512(s) in hex, cut to `length` characters in all. */
export const hashWithPrefix = (length: number, prefix: string, s: string): string => `${prefix}${sha512Hex(s)}`.slice(0, length);

/** utils.FormatChainName: "CNI-" + sha512(name+id), 28 chars in all. */
export const chainName = (name: string, containerId: string): string => hashWithPrefix(28, 'CNI-', name + containerId);

/** portmap DNAT chain: "CNI-DN-" + sha512(name+id), 28 chars in all. */
export const dnatChainName = (name: string, containerId: string): string => hashWithPrefix(28, 'CNI-DN-', name + containerId);

/** bandwidth's IFB device for a container's egress shaping: "bwp" + sha512(name+id), 15 chars (IFNAMSIZ-1) in all. */
export const ifbDeviceName = (name: string, containerId: string): string => hashWithPrefix(15, 'bwp', name + containerId);
