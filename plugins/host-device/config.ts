/** host-device network config: how the host link is selected (the reference's keys), validated. Pure. */
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import { capability, type NetConf } from '../../lib/cni/config.js';
import { canonicalKeys, Fields } from '../../lib/cni/fields.js';

/** Exactly one way of naming the host link, in the reference's order of precedence. */
export type Selector =
  | { by: 'device'; name: string }
  | { by: 'hwaddr'; mac: string }
  | { by: 'kernelpath'; path: string }
  | { by: 'pciBusID'; pci: string };

export const SELECTOR_KEYS = ['device', 'hwaddr', 'kernelpath', 'pciBusID'] as const;

const invalid = (msg: string, details?: string): CniError => new CniError(ErrorCode.InvalidNetworkConfig, msg, details);

/**
 * A hardware address as Go's net.ParseMAC reads one (6, 8 or 20 octets: Ethernet, EUI-64, IPoIB; ":" or "-" between
 * octets, or "." between groups of four hex digits), in `ip link`'s spelling: lower-case octets joined by ":".
 */
export function normalizeMac(text: string): string | undefined {
  let octets: string[];
  if (/^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4})+$/.test(text)) octets = text.split('.').flatMap((g) => [g.slice(0, 2), g.slice(2)]);
  else {
    const sep = text[2];
    if (sep !== ':' && sep !== '-') return undefined;
    octets = text.split(sep);
    if (!octets.every((o) => /^[0-9a-fA-F]{2}$/.test(o))) return undefined;
  }
  return [6, 8, 20].includes(octets.length) ? octets.join(':').toLowerCase() : undefined;
}

/** A PCI address as the kernel names it under /sys/bus/pci/devices ("0000:00:1f.6"): no path tricks. */
const PCI_PATTERN = /^[0-9a-fA-F]{4,}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;

/**
 * The selector: `device`, else `hwaddr`, else `kernelpath`, else `pciBusID` — which `runtimeConfig.deviceID` (the
 * SR-IOV device plugin's) overrides. None of them: the reference's error naming the four keys.
 */
export function parseSelector(conf: NetConf): Selector {
  const f = new Fields(canonicalKeys(conf.raw, SELECTOR_KEYS), 'host-device config');
  const deviceID = capability(conf, 'deviceID');
  if (deviceID !== undefined && deviceID !== null && typeof deviceID !== 'string') {
    throw invalid(`runtimeConfig.deviceID must be a string (a PCI address), got ${JSON.stringify(deviceID)}`);
  }
  const pci = (deviceID as string | undefined) || f.string('pciBusID');
  const device = f.string('device');
  if (device !== undefined) {
    if (device.length > 15 || /[/:\s]/.test(device) || device === '.' || device === '..') f.fail('device', `is not an interface name: ${JSON.stringify(device)}`);
    return { by: 'device', name: device };
  }
  const hw = f.string('hwaddr');
  if (hw !== undefined) {
    return { by: 'hwaddr', mac: normalizeMac(hw) ?? f.fail('hwaddr', `is not a MAC address: ${JSON.stringify(hw)}`) };
  }
  const kp = f.string('kernelpath');
  if (kp !== undefined) {
    if (!kp.startsWith('/sys/devices/') || kp.split('/').includes('..')) {
      f.fail('kernelpath', `${JSON.stringify(kp)} must be absolute and begin with /sys/devices/`);
    }
    return { by: 'kernelpath', path: kp };
  }
  if (pci) {
    if (!PCI_PATTERN.test(pci)) throw invalid(`${deviceID ? 'runtimeConfig.deviceID' : 'host-device config: "pciBusID"'} is not a PCI address: ${JSON.stringify(pci)}`);
    return { by: 'pciBusID', pci };
  }
  throw invalid(`specify either "device", "hwaddr", "kernelpath" or "pciBusID"`);
}

/** Is there a selector at all (DEL works without one: it finds the device by CNI_IFNAME)? */
export function trySelector(conf: NetConf): Selector | undefined {
  try {
    return parseSelector(conf);
  } catch {
    return undefined;
  }
}
