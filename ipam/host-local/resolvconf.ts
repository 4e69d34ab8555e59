/** resolv.conf → CNI DNS (nameserver, domain, search, options), as the reference host-local reads it. */
import { readFileSync } from 'node:fs';
import { CniError, ErrorCode } from '../../lib/cni/errors.js';
import type { DNS } from '../../lib/cni/result.js';

export function parseResolvConfText(text: string): DNS {
  const dns: DNS = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) (dns.nameservers ??= []).push(rest[0]);
    else if (key === 'domain' && rest[0]) dns.domain = rest[0];
    else if (key === 'search') (dns.search ??= []).push(...rest);
    else if (key === 'options') (dns.options ??= []).push(...rest);
  }
  return dns;
}

export function readResolvConf(path: string): DNS {
  try {
    return parseResolvConfText(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CniError(ErrorCode.IOFailure, `cannot read ipam.resolvConf ${path}`, (e as Error).message);
  }
}
