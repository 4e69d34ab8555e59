/** Certificates for tests, made with openssl in a test's temp dir: CAs, server certificates (IP SAN), client ones. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh, shOk } from './harness.js';

export const haveOpenssl = sh('openssl', ['version']).status === 0;

export interface KeyPair {
  cert: string;
  key: string;
}

/** A self-signed CA `name` (files name.crt, name.key in `dir`). */
export function makeCA(dir: string, name: string, cn = `${name} test CA`): KeyPair {
  const p = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  shOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p.key, '-out', p.cert, '-days', '1', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return p;
}

/**
 * A certificate `name` signed by `ca`: a server certificate for `ip` (subjectAltName), or a client certificate
 * (extendedKeyUsage clientAuth), with subject CN `cn`.
 */
export function issue(dir: string, ca: KeyPair, name: string, o: { cn: string; ip?: string; client?: boolean }): KeyPair {
  const p = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  shOk('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p.key, '-out', csr, '-subj', `/CN=${o.cn}`]);
  // A server certificate is also a client one, as kubeadm's etcd server certificate: with --client-cert-auth, etcd's
  // JSON gateway connects to its own gRPC port with it (a serverAuth-only certificate makes every request 503).
  writeFileSync(ext, [o.ip ? `subjectAltName=IP:${o.ip}` : '', `extendedKeyUsage=${o.client ? 'clientAuth' : 'serverAuth,clientAuth'}`].filter(Boolean).join('\n') + '\n');
  shOk('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', p.cert, '-days', '1', '-extfile', ext]);
  return p;
}
