/**
 * Finding the host link a host-device config names: by name, by MAC (one `ip -j link show`), by a kernel device path
 * or a PCI address (sysfs: the first entry of the device's `net` directory). And whether a PCI device is bound to a
 * userspace (DPDK) driver, in which case there is no kernel link to move.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { basename, join } from '../../lib/paths.js';
import { pluginError } from '../../lib/cni/errors.js';
import type { IpLink } from '../../lib/iface.js';
import { Netns } from '../../lib/netns.js';
import type { Selector } from './config.js';

/** Drivers that take a NIC away from the kernel's network stack (the reference's list). */
export const USERSPACE_DRIVERS = ['vfio-pci', 'uio_pci_generic', 'igb_uio'];

/** /sys/bus/pci/devices, or CNI_TS_SYS_BUS_PCI (tests: a directory laid out like it). */
export const sysBusPci = (): string => process.env.CNI_TS_SYS_BUS_PCI || '/sys/bus/pci/devices';

const notFound = (why: string) => pluginError(`failed to find host device: ${why}`);

const sortedEntries = (dir: string): string[] => readdirSync(dir).sort();

/** The `net` directory of a PCI device (or of its virtio child), as the reference looks for it. */
function pciNetDir(pci: string): string {
  const base = join(sysBusPci(), pci);
  const direct = join(base, 'net');
  if (existsSync(direct)) return direct;
  const virtio = existsSync(base) ? sortedEntries(base).filter((e) => e.startsWith('virtio')).map((e) => join(base, e, 'net')).find((d) => existsSync(d)) : undefined;
  if (!virtio) throw notFound(`no net directory under pci device ${pci}`);
  return virtio;
}

/** Is the PCI device bound to a userspace driver (vfio-pci, uio_pci_generic, igb_uio)? */
export function hasDpdkDriver(pci: string): boolean {
  let driver: string;
  try {
    driver = basename(realpathSync(join(sysBusPci(), pci, 'driver')));
  } catch (e) {
    throw pluginError(`error with host device: cannot read the driver of pci device ${pci}`, (e as Error).message);
  }
  return USERSPACE_DRIVERS.includes(driver);
}

/** Like hasDpdkDriver, but "no" when it cannot be told (DEL must not fail on a device that went away). */
export function maybeDpdk(sel: Selector | undefined): boolean {
  if (sel?.by !== 'pciBusID') return false;
  try {
    return hasDpdkDriver(sel.pci);
  } catch {
    return false;
  }
}

/**
 * The name of the host link `sel` names, in `host`. For `device` the name itself (the move fails when there is no
 * such link); otherwise the links of the host are listed once.
 */
export function resolveHostDevice(sel: Selector, host: Netns): string {
  if (sel.by === 'device') return sel.name;
  const links = (): IpLink[] => host.ipJson<IpLink[]>(['link', 'show']);
  if (sel.by === 'hwaddr') {
    const l = links().find((x) => x.address?.toLowerCase() === sel.mac);
    if (!l) throw notFound(`no link with hwaddr ${sel.mac}`);
    return l.ifname;
  }
  if (sel.by === 'kernelpath') {
    const dir = join(sel.path, 'net');
    let entries: string[];
    try {
      entries = sortedEntries(dir);
    } catch {
      throw notFound(`failed to find network devices at ${JSON.stringify(dir)}`);
    }
    const names = new Set(links().map((l) => l.ifname));
    const name = entries.find((e) => names.has(e));
    if (!name) throw notFound(`no link of this network namespace under ${dir}`);
    return name;
  }
  const dir = pciNetDir(sel.pci);
  let entries: string[];
  try {
    entries = sortedEntries(dir);
  } catch (e) {
    throw notFound(`failed to read net directory ${dir}: ${(e as Error).message}`);
  }
  if (!entries.length) throw notFound(`failed to find device name for pci address ${sel.pci}`);
  return entries[0]!;
}
