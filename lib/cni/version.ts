/** CNI spec versions and what each allows. */
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const CURRENT_VERSION = '1.1.0';

/** The three result shapes: 0.1/0.2 (ip4/ip6), 0.3/0.4 (ips with version), 1.x (ips without version). */
export type ResultFamily = '020' | '040' | '100';

export function parseSemver(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** Negative when a < b, zero when equal, positive when a > b. Unparseable versions sort first. */
export function compareVersions(a: string, b: string): number {
  const pa = parseSemver(a) ?? [-1, 0, 0];
  const pb = parseSemver(b) ?? [-1, 0, 0];
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

export function isSupportedVersion(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

export function resultFamily(v: string): ResultFamily {
  if (compareVersions(v, '0.3.0') < 0) return '020';
  if (compareVersions(v, '1.0.0') < 0) return '040';
  return '100';
}

export const versionAllowsCheck = (v: string): boolean => compareVersions(v, '0.4.0') >= 0;
export const versionAllowsGcStatus = (v: string): boolean => compareVersions(v, '1.1.0') >= 0;
export const versionAllowsMultipleIps = (v: string): boolean => compareVersions(v, '0.3.0') >= 0;

/** The supported versions from `min` on (the reference's version.VersionsStartingFrom). */
export const versionsFrom = (min: string): readonly string[] => SUPPORTED_VERSIONS.filter((v) => compareVersions(v, min) >= 0);
