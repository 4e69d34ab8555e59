/**
 * The Kubernetes store: this node's subnets are its Node's spec.podCIDRs (allocated by the controller manager), the
 * VTEP MAC and underlay address are published as Node annotations, and peers come from listing and watching Nodes.
 *
 * Protocol (core/v1, as client-go's reflector): GET /api/v1/nodes → NodeList with metadata.resourceVersion; then
 * GET /api/v1/nodes?watch=1&resourceVersion=RV&allowWatchBookmarks=true → one JSON event per line ({"type": ADDED |
 * MODIFIED | DELETED | BOOKMARK | ERROR, "object": …}). A watch that ends normally is resumed from the last
 * resourceVersion seen; "410 Gone" (an ERROR event whose Status has code 410, or an HTTP 410) means that version is
 * too old: list again. Other failures back off (1 s … 30 s) and list again.
 * Access (kubeconfig.ts): in-cluster (https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the service
 * account's token, re-read for every request since bound tokens rotate, and CA) or --kubeconfig-file.
 */
import { parseCIDR } from '../../lib/ip.js';
import { withinAny } from '../subnets.js';
import type { Backend } from '../config.js';
import { Backoff, HttpError, describeError, requestJSON, sleep, streamJSON, type Stream } from './http.js';
import type { KubeAccess } from './kubeconfig.js';
import { describeTlsError } from './tls.js';
import { FatalStoreError, type LocalInfo, type NodeRecord, type Store, type StoreEvents } from './types.js';

export const ANNOTATION_PREFIX = 'cni-ts.io/';
export const ANN_PUBLIC_IP = `${ANNOTATION_PREFIX}public-ip`;
export const ANN_BACKEND_TYPE = `${ANNOTATION_PREFIX}backend-type`;
export const ANN_BACKEND_DATA = `${ANNOTATION_PREFIX}backend-data`;

export interface KubeOptions {
  /** Server, TLS and credentials (kubeconfig.ts: in-cluster or --kubeconfig-file). */
  access: KubeAccess;
  nodeName: string;
  clusterCIDRs: string[];
  log: (msg: string) => void;
}

/** The subnets of a Node: spec.podCIDRs, or the older single spec.podCIDR. */
export function podCIDRsOf(node: any): string[] {
  const list = node?.spec?.podCIDRs;
  if (Array.isArray(list) && list.length) return list.map(String);
  return node?.spec?.podCIDR ? [String(node.spec.podCIDR)] : [];
}

/** A peer as the data path needs it, from a Node object. Undefined when it has no pod subnet yet. */
export function nodeRecord(node: any): NodeRecord | undefined {
  const name = node?.metadata?.name;
  const subnets = podCIDRsOf(node);
  if (typeof name !== 'string' || subnets.length === 0) return undefined;
  const ann: Record<string, string> = node.metadata.annotations ?? {};
  let publicIPs = (ann[ANN_PUBLIC_IP] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (publicIPs.length === 0) publicIPs = (node.status?.addresses ?? []).filter((a: any) => a.type === 'InternalIP').map((a: any) => String(a.address));
  let vtepMAC: string | undefined;
  try {
    const d = ann[ANN_BACKEND_DATA] ? JSON.parse(ann[ANN_BACKEND_DATA]) : undefined;
    if (typeof d?.VtepMAC === 'string') vtepMAC = d.VtepMAC;
  } catch {
    /* malformed: no MAC */
  }
  const backend: Backend = ann[ANN_BACKEND_TYPE] === 'host-gw' ? 'host-gw' : 'vxlan';
  return { node: name, publicIPs, subnets, backend, vtepMAC };
}

/** The annotations this node publishes. */
export function ourAnnotations(local: LocalInfo): Record<string, string> {
  return {
    [ANN_PUBLIC_IP]: local.publicIPs.join(','),
    [ANN_BACKEND_TYPE]: local.backend,
    [ANN_BACKEND_DATA]: JSON.stringify(local.vtepMAC ? { VtepMAC: local.vtepMAC } : {}),
  };
}

/** Is this a "410 Gone" (resourceVersion too old), as an HTTP answer or a watch ERROR event? */
export const isGone = (e: unknown): boolean => (e instanceof HttpError && e.status === 410) || (e as { gone?: boolean })?.gone === true;

export class KubeClient {
  constructor(readonly access: KubeAccess) {}

  get server(): string {
    return this.access.server;
  }

  private headers(): Record<string, string> {
    const a = this.access.authorization();
    return a ? { authorization: a } : {};
  }

  url(path: string): URL {
    return new URL(path, this.access.server);
  }

  /** The error of a failed request, with a TLS problem named (which file, what is wrong). */
  private explain = (e: unknown): Error => {
    const tls = describeTlsError(e, this.access.tls.origin);
    return tls ? new Error(tls) : (e as Error);
  };

  private async request(method: string, path: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<any> {
    try {
      return await requestJSON({ method, url: this.url(path), headers: { ...this.headers(), ...headers }, body, tls: this.access.tls.material(), timeoutMs: 15_000, signal });
    } catch (e) {
      throw this.explain(e);
    }
  }

  get(path: string, signal?: AbortSignal): Promise<any> {
    return this.request('GET', path, undefined, {}, signal);
  }

  patch(path: string, body: unknown, signal?: AbortSignal): Promise<any> {
    return this.request('PATCH', path, body, { 'content-type': 'application/merge-patch+json' }, signal);
  }

  watch(path: string, onEvent: (ev: any) => void): Stream {
    let s: Stream;
    try {
      s = streamJSON({ method: 'GET', url: this.url(path), headers: this.headers(), tls: this.access.tls.material(), timeoutMs: 15_000 }, onEvent);
    } catch (e) {
      return { close: () => undefined, done: Promise.resolve(this.explain(e)) };
    }
    return { close: () => s.close(), done: s.done.then((e) => (e ? this.explain(e) : e)) };
  }
}

export class KubeStore implements Store {
  readonly client: KubeClient;
  private local: LocalInfo | undefined;
  private subnets: string[] = [];

  constructor(private readonly o: KubeOptions) {
    this.client = new KubeClient(o.access);
  }

  get label(): string {
    return `kubernetes ${this.o.access.server} (${this.o.access.source})`;
  }

  private nodePath = (): string => `/api/v1/nodes/${encodeURIComponent(this.o.nodeName)}`;

  /** Subnets of our Node inside the cluster CIDRs; a podCIDR outside them is a fatal misconfiguration. */
  private subnetsOf(node: any): string[] {
    const out: string[] = [];
    for (const s of podCIDRsOf(node)) {
      if (!parseCIDR(s) || !withinAny(this.o.clusterCIDRs, s)) throw new FatalStoreError(`Node ${this.o.nodeName} has spec.podCIDRs ${s}, which is not inside --cluster-cidr ${this.o.clusterCIDRs.join(',')} (they must match the controller manager's --cluster-cidr)`);
      out.push(s);
    }
    return out;
  }

  private async publish(node: any, signal: AbortSignal): Promise<void> {
    const want = ourAnnotations(this.local!);
    const have: Record<string, string> = node?.metadata?.annotations ?? {};
    if (Object.entries(want).every(([k, v]) => have[k] === v)) return;
    await this.client.patch(this.nodePath(), { metadata: { annotations: want } }, signal);
    this.o.log(`annotated Node ${this.o.nodeName}: ${JSON.stringify(want)}`);
  }

  async acquire(local: LocalInfo, signal: AbortSignal): Promise<string[]> {
    this.local = local;
    const backoff = new Backoff();
    for (;;) {
      if (signal.aborted) throw new Error('stopped');
      try {
        const node = await this.client.get(this.nodePath(), signal);
        const subnets = this.subnetsOf(node);
        if (subnets.length) {
          await this.publish(node, signal);
          this.subnets = subnets;
          this.o.log(`Node ${this.o.nodeName} has spec.podCIDRs ${subnets.join(', ')}`);
          return subnets;
        }
        const ms = backoff.next();
        this.o.log(`Node ${this.o.nodeName} has no spec.podCIDR yet (the controller manager allocates them with --allocate-node-cidrs); checking again in ${ms / 1000}s`);
        await sleep(ms, signal);
      } catch (e) {
        if (e instanceof FatalStoreError || signal.aborted) throw signal.aborted ? new Error('stopped') : e;
        const ms = backoff.next();
        this.o.log(`Kubernetes API ${this.client.server}: cannot read Node ${this.o.nodeName}: ${describeError(e)}; retrying in ${ms / 1000}s`);
        await sleep(ms, signal);
      }
    }
  }

  async follow(events: StoreEvents, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff();
    const nodes = new Map<string, any>();
    const emit = (): void => {
      const peers = new Map<string, NodeRecord>();
      for (const n of nodes.values()) {
        const r = nodeRecord(n);
        if (r && r.node !== this.o.nodeName) peers.set(r.node, r);
      }
      events.peers(peers);
    };
    const own = (node: any): void => {
      if (node?.metadata?.name !== this.o.nodeName) return;
      try {
        const subnets = this.subnetsOf(node);
        if (subnets.length && subnets.join(',') !== this.subnets.join(',')) {
          this.subnets = subnets;
          events.lease(subnets);
        }
      } catch (e) {
        this.o.log(describeError(e));
      }
      this.publish(node, signal).catch((e) => this.o.log(`cannot annotate Node ${this.o.nodeName}: ${describeError(e)}`));
    };
    while (!signal.aborted) {
      let rv: string;
      try {
        const list = await this.client.get('/api/v1/nodes', signal);
        nodes.clear();
        for (const n of list.items ?? []) nodes.set(n.metadata.name, n);
        rv = String(list.metadata?.resourceVersion ?? '');
        this.o.log(`listed ${nodes.size} Nodes at resourceVersion ${rv}`);
        events.connected(true, 'ok');
        emit();
        for (const n of nodes.values()) own(n);
      } catch (e) {
        if (signal.aborted) return;
        const ms = backoff.next();
        events.connected(false, `cannot list Nodes: ${describeError(e)}`);
        this.o.log(`Kubernetes API ${this.client.server}: cannot list Nodes: ${describeError(e)}; retrying in ${ms / 1000}s`);
        await sleep(ms, signal);
        continue;
      }
      // Watch from rv until it is too old (410: list again) or fails (back off, list again).
      for (;;) {
        let failure: Error | undefined;
        const stream = this.client.watch(`/api/v1/nodes?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${encodeURIComponent(rv)}`, (ev) => {
          const obj = ev.object ?? {};
          if (ev.type === 'ERROR') {
            failure = Object.assign(new Error(`watch error: ${obj.message ?? JSON.stringify(obj)} (code ${obj.code})`), { gone: obj.code === 410 });
            throw failure;
          }
          if (obj.metadata?.resourceVersion) rv = String(obj.metadata.resourceVersion);
          if (ev.type === 'BOOKMARK') return;
          const name = obj.metadata?.name;
          if (typeof name !== 'string') return;
          if (ev.type === 'DELETED') nodes.delete(name);
          else {
            nodes.set(name, obj);
            own(obj);
          }
          emit();
        });
        const onAbort = (): void => stream.close();
        signal.addEventListener('abort', onAbort, { once: true });
        const err = failure ?? (await stream.done);
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        const cause = failure ?? err;
        if (!cause) {
          this.o.log(`the Node watch was ended by the server; watching again from resourceVersion ${rv}`);
          backoff.reset();
          continue; // the server ended the watch (timeoutSeconds): resume from rv
        }
        if (isGone(cause)) {
          this.o.log(`resourceVersion ${rv} is too old (410 Gone): listing Nodes again`);
          break;
        }
        const ms = backoff.next();
        events.connected(false, `watch failed: ${describeError(cause)}`);
        this.o.log(`Kubernetes API ${this.client.server}: watching Nodes failed: ${describeError(cause)}; listing again in ${ms / 1000}s`);
        await sleep(ms, signal);
        break;
      }
    }
  }

  async release(signal: AbortSignal): Promise<void> {
    const none = Object.fromEntries([ANN_PUBLIC_IP, ANN_BACKEND_TYPE, ANN_BACKEND_DATA].map((k) => [k, null]));
    await this.client.patch(this.nodePath(), { metadata: { annotations: none } }, signal);
    this.o.log(`removed the cni-ts.io annotations from Node ${this.o.nodeName} (its spec.podCIDRs belong to the controller manager)`);
  }
}
