/** On-host names shared with the reference plugins (so either can clean up after the other). */
import { createHash } from 'node:crypto';

export const sha512Hex = (s: string): string => createHash('sha512').update(s).digest('hex');

/** utils.FormatChainName: "CNI-" + sha512(name+id), 28 chars in all. */
export const chainName = (name: string, containerId: string): string => `CNI-${sha512Hex(name + containerId)}`.slice(0, 28);

/** portmap DNAT chain: "CNI-DN-" + sha512(name+id), 28 chars in all. */
export const dnatChainName = (name: string, containerId: string): string => `CNI-DN-${sha512Hex(name + containerId)}`.slice(0, 28);
