/**
 * TLS material for the stores' HTTPS connections (etcd's client certificates, a kubeconfig's CA and client
 * certificate) and errors that name the certificate problem.
 *
 * Files are read when first needed and again whenever they change (size or mtime): certificates rotated on disk
 * (kubeadm renews etcd's client certificates; kubelet rotates its own) are picked up on the next connection without a
 * restart. A file that cannot be read, or holds no PEM block of the expected kind, is a TlsSetupError naming the flag
 * and the file; the store's retry loop logs it and tries again, so fixing the file heals a running agent.
 */
import { readFileSync, statSync } from 'node:fs';

/** PEM strings and verification settings, as node:https takes them. */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  /** false = do not verify the server's certificate (kubeconfig insecure-skip-tls-verify). */
  rejectUnauthorized?: boolean;
  /** SNI and the name the server's certificate is checked against (kubeconfig tls-server-name). */
  servername?: string;
}

/** Where each piece comes from, for error messages: a flag and a path ("--etcd-cafile /etc/etcd/ca.crt"). */
export interface TlsOrigin {
  ca?: string;
  cert?: string;
  key?: string;
}

/** A file or value that cannot be used as TLS material: retrying will not help until it is fixed. */
export class TlsSetupError extends Error {}

type Kind = 'ca' | 'cert' | 'key';

const PEM_RE: Record<Kind, RegExp> = {
  ca: /-----BEGIN CERTIFICATE-----/,
  cert: /-----BEGIN CERTIFICATE-----/,
  key: /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
};
const WHAT: Record<Kind, string> = { ca: 'a PEM certificate (BEGIN CERTIFICATE)', cert: 'a PEM certificate (BEGIN CERTIFICATE)', key: 'a PEM private key (BEGIN … PRIVATE KEY)' };

/** Check that `pem` holds the expected kind of PEM block; `origin` names where it came from. Pure. */
export function checkPem(kind: Kind, pem: string, origin: string): string {
  if (!PEM_RE[kind].test(pem)) throw new TlsSetupError(`${origin} does not hold ${WHAT[kind]}`);
  return pem;
}

/** One file, re-read when its size or mtime changes. */
class WatchedFile {
  private sig = '';
  private text = '';
  constructor(
    readonly path: string,
    private readonly kind: Kind,
    readonly origin: string,
  ) {}

  read(): string {
    let sig: string;
    try {
      const st = statSync(this.path);
      sig = `${st.size}:${st.mtimeMs}:${st.ino}`;
      if (sig === this.sig) return this.text;
      this.text = checkPem(this.kind, readFileSync(this.path, 'utf8'), this.origin);
    } catch (e) {
      this.sig = '';
      if (e instanceof TlsSetupError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new TlsSetupError(`cannot read ${this.origin}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
    }
    this.sig = sig;
    return this.text;
  }
}

/** TLS material from files and/or fixed PEM strings (kubeconfig *-data), plus how to describe failures. */
export class TlsSource {
  private readonly files: Partial<Record<Kind, WatchedFile>> = {};

  /**
   * `files`: paths, with `labels` naming each for messages (e.g. {ca: '--etcd-cafile'}); `inline`: PEM strings already
   * loaded (and checked) from elsewhere; `extra`: rejectUnauthorized, servername.
   */
  constructor(
    files: TlsOrigin,
    labels: Record<Kind, string>,
    private readonly inline: TlsMaterial = {},
    readonly origin: TlsOrigin = {},
  ) {
    for (const k of ['ca', 'cert', 'key'] as const) {
      const p = files[k];
      if (p) {
        this.files[k] = new WatchedFile(p, k, `${labels[k]} ${p}`);
        this.origin[k] ??= `${labels[k]} ${p}`;
      }
    }
  }

  /** Nothing configured: plain http, or https verified against the system's CAs. */
  get empty(): boolean {
    return !this.files.ca && !this.files.cert && !this.files.key && !this.inline.ca && !this.inline.cert && !this.inline.key && this.inline.rejectUnauthorized !== false && !this.inline.servername;
  }

  /** The current material (files re-read when changed); throws TlsSetupError naming the file. */
  material(): TlsMaterial {
    const m: TlsMaterial = { ...this.inline };
    for (const k of ['ca', 'cert', 'key'] as const) {
      const f = this.files[k];
      if (f) m[k] = f.read();
    }
    return m;
  }
}

const has = (e: unknown, re: RegExp): boolean => re.test(`${(e as { code?: string })?.code ?? ''} ${(e as Error)?.message ?? ''}`);

/**
 * One line naming the TLS problem behind a failed request ("TLS: the server's certificate is not signed by the CA in
 * --etcd-cafile /etc/etcd/ca.crt"), or undefined when `e` is not a TLS problem. `origin` says where the CA and the
 * client certificate came from (flags and files), so the message says what to fix. The caller names the server.
 */
export function describeTlsError(e: unknown, origin: TlsOrigin): string | undefined {
  if (e instanceof TlsSetupError) return e.message;
  const ca = origin.ca ? `the CA in ${origin.ca}` : "the system's CAs";
  const client = origin.cert ? `the client certificate ${origin.cert}` : 'no client certificate';
  if (has(e, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_SIGNATURE_FAILURE|unable to verify|self[- ]signed/i)) {
    return `TLS: the server's certificate is not signed by ${ca}${origin.ca ? '' : ' (give the CA that signed it)'}`;
  }
  if (has(e, /CERT_HAS_EXPIRED|certificate has expired/i)) return "TLS: the server's certificate has expired";
  if (has(e, /CERT_NOT_YET_VALID|not yet valid/i)) return "TLS: the server's certificate is not valid yet (check this node's clock)";
  if (has(e, /ERR_TLS_CERT_ALTNAME_INVALID|altnames|Hostname\/IP does not match/i)) {
    return `TLS: the server's certificate does not name the host or address connected to: ${(e as Error).message.replace(/^.*?: /, '')}`;
  }
  if (has(e, /KEY_VALUES_MISMATCH|key values mismatch/i)) return `TLS: the private key${origin.key ? ` ${origin.key}` : ''} does not belong to ${client}`;
  if (has(e, /ALERT_CERTIFICATE_REQUIRED|certificate required/i) || (!origin.cert && has(e, /ALERT_BAD_CERTIFICATE|ALERT_HANDSHAKE_FAILURE|bad certificate/i))) {
    return 'TLS: the server requires a client certificate and none is configured';
  }
  if (has(e, /ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_CERTIFICATE_UNKNOWN|ALERT_CERTIFICATE_EXPIRED|ALERT_CERTIFICATE_REVOKED|ALERT_ACCESS_DENIED|bad certificate|unknown ca/i)) {
    const why = has(e, /EXPIRED/i) ? 'it has expired' : has(e, /REVOKED/i) ? 'it is revoked' : 'not signed by a CA the server trusts, or expired';
    return `TLS: the server rejected ${client} (${why})`;
  }
  if (has(e, /WRONG_VERSION_NUMBER|wrong version number|packet length too long|HTTP_REQUEST/i)) return 'TLS: the server does not speak TLS on that port (use http:// for it)';
  if (has(e, /ERR_SSL|ERR_TLS|ERR_OSSL|SSL routines|ERR_BORINGSSL|Invalid CA|no start line/i)) return `TLS: ${(e as Error).message.split('\n')[0]}`;
  return undefined;
}
