/**
 * How the agent reaches the Kubernetes API: in-cluster (the service account's token and CA, the default) or from a
 * kubeconfig file (`--kubeconfig-file`, for running outside the cluster), as client-go's clientcmd reads one:
 *
 * - the context is `current-context` (or the only context there is);
 * - its cluster gives `server`, the CA (`certificate-authority` file, relative paths from the kubeconfig's directory,
 *   or `certificate-authority-data`), `insecure-skip-tls-verify` and `tls-server-name`;
 * - its user gives a bearer `token` or `tokenFile`, a client certificate and key (`client-certificate`/`client-key`
 *   files or their `-data`), or `username`/`password`; `-data` wins over a file, as in client-go.
 *
 * Credential plugins (`exec`, `auth-provider`) are not run: a user that only has those is refused, naming them.
 * `--kube-api-server` overrides the server, as client-go's masterUrl does. Parsing is pure (the file reader is a
 * parameter); token files and certificate files are re-read when they change (rotation).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { checkPem, TlsSource, type TlsMaterial } from './tls.js';

/** Everything a request to the API server needs besides its path. */
export interface KubeAccess {
  server: string;
  tls: TlsSource;
  /** The Authorization header value (re-reads a token file), or undefined for none. */
  authorization(): string | undefined;
  /** Where the settings came from, for logs ("kubeconfig /root/.kube/config, context kind-kind, user kind-kind"). */
  source: string;
}

export class KubeconfigError extends Error {}

/** In-cluster: the service account's token (re-read per request: bound tokens rotate) and CA, when present. */
export function inClusterAccess(server: string, tokenFile: string, caFile: string): KubeAccess {
  return {
    server,
    tls: new TlsSource({ ca: caFile && existsSync(caFile) ? caFile : undefined }, { ca: '--kube-ca-file', cert: '', key: '' }),
    authorization: () => (tokenFile && existsSync(tokenFile) ? `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` : undefined),
    source: 'in-cluster service account',
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The named entry of a kubeconfig list (clusters, users, contexts): its inner object. */
function named(doc: Obj, list: 'clusters' | 'users' | 'contexts', inner: 'cluster' | 'user' | 'context', name: string, where: string): Obj {
  const items = Array.isArray(doc[list]) ? (doc[list] as unknown[]) : [];
  const hit = items.find((x) => isObj(x) && x.name === name) as Obj | undefined;
  if (!hit) {
    const names = items.map((x) => (isObj(x) ? String(x.name) : '?'));
    throw new KubeconfigError(`${where}: no ${inner} named ${JSON.stringify(name)} in ${list} (has ${names.length ? names.join(', ') : 'none'})`);
  }
  return isObj(hit[inner]) ? (hit[inner] as Obj) : {};
}

const str = (o: Obj, k: string): string | undefined => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);

/** Parse a kubeconfig's text (YAML or JSON) into its document object. */
export function parseKubeconfigText(text: string, path: string): Obj {
  let doc: unknown;
  try {
    doc = (require('yaml') as typeof import('yaml')).parse(text);
  } catch (e) {
    throw new KubeconfigError(`kubeconfig ${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isObj(doc)) throw new KubeconfigError(`kubeconfig ${path} does not hold a kubeconfig (a YAML mapping with clusters, users, contexts)`);
  return doc;
}

export interface KubeconfigChoice {
  context: string;
  cluster: string;
  user: string;
  server: string;
  /** Paths (absolute) of the CA, client certificate and key files, when given as files. */
  files: { ca?: string; cert?: string; key?: string };
  /** PEM from the -data fields, and verification settings. */
  inline: TlsMaterial;
  token?: string;
  tokenFile?: string;
  basic?: { username: string; password: string };
}

/** Resolve the current context of a parsed kubeconfig into what a client needs. Pure. */
export function resolveKubeconfig(doc: Obj, path: string, serverOverride = ''): KubeconfigChoice {
  const contexts = Array.isArray(doc.contexts) ? (doc.contexts as unknown[]).filter(isObj) : [];
  let context = str(doc, 'current-context');
  if (!context && contexts.length === 1) context = String(contexts[0]!.name);
  if (!context) throw new KubeconfigError(`kubeconfig ${path} has no current-context${contexts.length ? ` (contexts: ${contexts.map((c) => String(c.name)).join(', ')}; set one with kubectl config use-context)` : ' and no contexts'}`);
  const ctx = named(doc, 'contexts', 'context', context, `kubeconfig ${path}`);
  const clusterName = str(ctx, 'cluster');
  const userName = str(ctx, 'user');
  if (!clusterName) throw new KubeconfigError(`kubeconfig ${path}: context ${JSON.stringify(context)} names no cluster`);
  const cluster = named(doc, 'clusters', 'cluster', clusterName, `kubeconfig ${path}, context ${JSON.stringify(context)}`);
  const user = userName ? named(doc, 'users', 'user', userName, `kubeconfig ${path}, context ${JSON.stringify(context)}`) : {};
  const where = (section: string, field: string): string => `kubeconfig ${path} ${section}.${field}`;
  const abs = (p: string): string => (isAbsolute(p) ? p : join(dirname(path), p));
  const data = (o: Obj, field: string, kind: 'ca' | 'cert' | 'key', section: string): string | undefined => {
    const v = str(o, field);
    if (!v) return undefined;
    const pem = Buffer.from(v, 'base64').toString('utf8');
    try {
      return checkPem(kind, pem, `${where(section, field)} (base64 of PEM)`);
    } catch (e) {
      throw new KubeconfigError((e as Error).message);
    }
  };

  const server = serverOverride || str(cluster, 'server');
  if (!server) throw new KubeconfigError(`${where(`cluster ${JSON.stringify(clusterName)}`, 'server')} is missing (or give --kube-api-server)`);
  try {
    const u = new URL(server);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new KubeconfigError(`${serverOverride ? '--kube-api-server' : where(`cluster ${JSON.stringify(clusterName)}`, 'server')}: ${JSON.stringify(server)} is not an https:// URL`);
  }

  const cSec = `cluster ${JSON.stringify(clusterName)}`;
  const uSec = `user ${JSON.stringify(userName ?? '')}`;
  const inline: TlsMaterial = {};
  const files: KubeconfigChoice['files'] = {};
  const caData = data(cluster, 'certificate-authority-data', 'ca', cSec);
  if (caData) inline.ca = caData;
  else if (str(cluster, 'certificate-authority')) files.ca = abs(str(cluster, 'certificate-authority')!);
  if (cluster['insecure-skip-tls-verify'] === true) inline.rejectUnauthorized = false;
  if (str(cluster, 'tls-server-name')) inline.servername = str(cluster, 'tls-server-name');

  const certData = data(user, 'client-certificate-data', 'cert', uSec);
  const keyData = data(user, 'client-key-data', 'key', uSec);
  if (certData) inline.cert = certData;
  else if (str(user, 'client-certificate')) files.cert = abs(str(user, 'client-certificate')!);
  if (keyData) inline.key = keyData;
  else if (str(user, 'client-key')) files.key = abs(str(user, 'client-key')!);
  const hasCert = !!(inline.cert || files.cert);
  const hasKey = !!(inline.key || files.key);
  if (hasCert !== hasKey) throw new KubeconfigError(`kubeconfig ${path} ${uSec} has a client ${hasCert ? 'certificate but no client-key' : 'key but no client-certificate'}`);

  const token = str(user, 'token');
  const tokenFile = str(user, 'tokenFile') ? abs(str(user, 'tokenFile')!) : undefined;
  const username = str(user, 'username');
  const basic = username ? { username, password: str(user, 'password') ?? '' } : undefined;
  const plugin = ['exec', 'auth-provider'].filter((k) => user[k] !== undefined && user[k] !== null);
  if (plugin.length && !hasCert && !token && !tokenFile && !basic) {
    throw new KubeconfigError(`kubeconfig ${path} ${uSec} authenticates with ${plugin.join(' and ')} (a credential plugin), which cni-ts-agent does not run: give that user a token, tokenFile or client certificate`);
  }
  return { context, cluster: clusterName, user: userName ?? '', server, files, inline, token, tokenFile, basic };
}

/** Read and resolve `--kubeconfig-file`; throws KubeconfigError with one line naming the problem. */
export function kubeconfigAccess(path: string, serverOverride = '', read: (p: string) => string = (p) => readFileSync(p, 'utf8')): KubeAccess {
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KubeconfigError(`cannot read --kubeconfig-file ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const k = resolveKubeconfig(parseKubeconfigText(text, path), path, serverOverride);
  const label = (f: string): string => `kubeconfig ${path} ${f}`;
  const tls = new TlsSource(k.files, { ca: label('certificate-authority'), cert: label('client-certificate'), key: label('client-key') }, k.inline, {
    ca: k.inline.ca ? label(`cluster ${JSON.stringify(k.cluster)} certificate-authority-data`) : undefined,
    cert: k.inline.cert ? label(`user ${JSON.stringify(k.user)} client-certificate-data`) : undefined,
    key: k.inline.key ? label(`user ${JSON.stringify(k.user)} client-key-data`) : undefined,
  });
  const authorization = (): string | undefined => {
    if (k.token) return `Bearer ${k.token}`;
    if (k.tokenFile) {
      try {
        return `Bearer ${readFileSync(k.tokenFile, 'utf8').trim()}`;
      } catch (e) {
        throw new KubeconfigError(`cannot read the tokenFile ${k.tokenFile} of kubeconfig ${path}: ${(e as Error).message}`);
      }
    }
    if (k.basic) return `Basic ${Buffer.from(`${k.basic.username}:${k.basic.password}`).toString('base64')}`;
    return undefined;
  };
  const how = k.token || k.tokenFile ? 'token' : k.files.cert || k.inline.cert ? 'client certificate' : k.basic ? 'basic auth' : 'no credentials';
  return { server: k.server, tls, authorization, source: `kubeconfig ${path} (context ${k.context}, user ${k.user || 'none'}: ${how})` };
}
