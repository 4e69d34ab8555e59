/**
 * Hashes and random names. Under Bun (the shipped executable) these use Bun.CryptoHasher and Web Crypto, because
 * loading node:crypto costs Bun ~2 ms per process; under Node, node:crypto (loaded on first use).
 */

interface BunHasher {
  update(s: string): BunHasher;
  digest(enc: 'hex'): string;
}
const bunHasher = (globalThis as { Bun?: { CryptoHasher: new (algo: string) => BunHasher } }).Bun?.CryptoHasher;

/** The hex digest of `s` with sha256 or sha512. */
export function digestHex(algo: 'sha256' | 'sha512', s: string): string {
  if (bunHasher) return new bunHasher(algo).update(s).digest('hex');
  return (require('node:crypto') as typeof import('node:crypto')).createHash(algo).update(s).digest('hex');
}

export const sha512Hex = (s: string): string => digestHex('sha512', s);
export const sha256Hex = (s: string): string => digestHex('sha256', s);

/** `n` random bytes (Web Crypto: global in Node ≥ 19 and Bun). */
export function randomBytes(n: number): Buffer {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(n)));
}

/** On-host names shared with the reference plugins (so either can clean up after the other). */

/** utils.MustFormatHashWithPrefix: `prefix` + sha512(s) in hex, cut to `length` characters in all. */
export const hashWithPrefix = (length: number, prefix: string, s: string): string => `${prefix}${sha512Hex(s)}`.slice(0, length);

/** utils.FormatChainName: "CNI-" + sha512(name+id), 28 chars in all. */
export const chainName = (name: string, containerId: string): string => hashWithPrefix(28, 'CNI-', name + containerId);

/** portmap DNAT chain: "CNI-DN-" + sha512(name+id), 28 chars in all. */
export const dnatChainName = (name: string, containerId: string): string => hashWithPrefix(28, 'CNI-DN-', name + containerId);

/** bandwidth's IFB device for a container's egress shaping: "bwp" + sha512(name+id), 15 chars (IFNAMSIZ-1) in all. */
export const ifbDeviceName = (name: string, containerId: string): string => hashWithPrefix(15, 'bwp', name + containerId);
