/**
 * The Kubernetes store: this node's subnets are its Node's spec.podCIDRs (allocated by the controller manager), the
 * VTEP MAC and underlay address are published as Node annotations, and peers come from listing and watching Nodes.
 *
 * Protocol (core/v1, as client-go's reflector): GET /api/v1/nodes?limit=500&resourceVersion=0 (served from the API
 * server's cache, not a quorum read of etcd), following metadata.continue page by page when the server paginates →
 * NodeList with metadata.resourceVersion; then GET /api/v1/nodes?watch=1&resourceVersion=RV&allowWatchBookmarks=true
 * → one JSON event per line ({"type": ADDED | MODIFIED | DELETED | BOOKMARK | ERROR, "object": …}). A watch that ends
 * normally is resumed from the last resourceVersion seen; "410 Gone" (an ERROR event whose Status has code 410, or an
 * HTTP 410) means that version is too old: list again. A watch silent for --watch-idle-timeout (no event, no bookmark)
 * is taken for dead and the Nodes are listed again. Other failures back off (1 s … 30 s) and list again.
 * Node updates that change nothing we use (status heartbeats, conditions, labels) cause no reconcile.
 * Our annotations are written through the nodes/status subresource (as flannel's; RBAC: nodes get/list/watch,
 * nodes/status patch). The annotation cni-ts.io/public-ip-overwrite, set by the admin, replaces the address this node
 * publishes (a node behind NAT).
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
export const ANN_PUBLIC_IP_OVERWRITE = `${ANNOTATION_PREFIX}public-ip-overwrite`;

/** Nodes per LIST page (client-go's default). */
export const LIST_PAGE = 500;

export interface KubeOptions {
  /** Server, TLS and credentials (kubeconfig.ts: in-cluster or --kubeconfig-file). */
  access: KubeAccess;
  nodeName: string;
  clusterCIDRs: string[];
  /** Seconds without an event or bookmark after which the watch is restarted. */
  watchIdleTimeout?: number;
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

/** The annotations this node publishes (public-ip: the admin's overwrite when the Node has one). */
export function ourAnnotations(local: LocalInfo, node?: any): Record<string, string> {
  const overwrite = String(node?.metadata?.annotations?.[ANN_PUBLIC_IP_OVERWRITE] ?? '').trim();
  return {
    [ANN_PUBLIC_IP]: overwrite || local.publicIPs.join(','),
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

  /** The whole list of a collection, page by page (`limit`, `continue`); the first page from the cache (resourceVersion=0). */
  async list(path: string, signal?: AbortSignal, pages?: (n: number) => void): Promise<{ items: any[]; resourceVersion: string }> {
    const items: any[] = [];
    let cont = '';
    let n = 0;
    for (;;) {
      const q = cont ? `limit=${LIST_PAGE}&continue=${encodeURIComponent(cont)}` : `limit=${LIST_PAGE}&resourceVersion=0`;
      const page = await this.get(`${path}?${q}`, signal);
      n++;
      items.push(...(page.items ?? []));
      cont = String(page.metadata?.continue ?? '');
      if (!cont) {
        pages?.(n);
        return { items, resourceVersion: String(page.metadata?.resourceVersion ?? '') };
      }
    }
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
  /** Annotations are written through the status subresource: RBAC grants nodes/status patch, not all of nodes. */
  private statusPath = (): string => `${this.nodePath()}/status`;
  private lastNode: any;
  private restart: ((why: string) => void) | undefined;

  /** End the current watch and list again (e.g. this node's address changed: its connections are dead). */
  restartWatch(why: string): void {
    this.restart?.(why);
  }

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
    this.lastNode = node;
    const want = ourAnnotations(this.local!, node);
    const have: Record<string, string> = node?.metadata?.annotations ?? {};
    if (Object.entries(want).every(([k, v]) => have[k] === v)) return;
    await this.client.patch(this.statusPath(), { metadata: { annotations: want } }, signal);
    this.o.log(`annotated Node ${this.o.nodeName}: ${JSON.stringify(want)}`);
  }

  async update(local: LocalInfo, signal: AbortSignal): Promise<void> {
    this.local = local;
    await this.publish(this.lastNode ?? (await this.client.get(this.nodePath(), signal)), signal);
  }

  /** The Node's InternalIP(s) (status.addresses), waiting while the API is unreachable or the Node has none. */
  async nodeIPs(signal: AbortSignal): Promise<string[]> {
    const backoff = new Backoff();
    for (;;) {
      if (signal.aborted) throw new Error('stopped');
      try {
        const node = await this.client.get(this.nodePath(), signal);
        const ips = (node?.status?.addresses ?? []).filter((a: any) => a.type === 'InternalIP').map((a: any) => String(a.address));
        if (ips.length) return ips;
        const ms = backoff.next();
        this.o.log(`Node ${this.o.nodeName} has no InternalIP yet (the underlay address to use); checking again in ${ms / 1000}s`);
        await sleep(ms, signal);
      } catch (e) {
        if (signal.aborted) throw new Error('stopped');
        const ms = backoff.next();
        this.o.log(`Kubernetes API ${this.client.server}: cannot read Node ${this.o.nodeName}: ${describeError(e)}; retrying in ${ms / 1000}s`);
        await sleep(ms, signal);
      }
    }
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
    const idleMs = (this.o.watchIdleTimeout ?? 660) * 1000;
    /** What we use of each Node (as a comparable string): a change elsewhere in the object is ignored. */
    const records = new Map<string, string>();
    let ownSeen = '';
    const emit = (): void => {
      const peers = new Map<string, NodeRecord>();
      for (const [name, sig] of records) if (name !== this.o.nodeName && sig) peers.set(name, JSON.parse(sig) as NodeRecord);
      events.peers(peers);
    };
    /** Take a Node in; true when something we use changed. */
    const put = (node: any): boolean => {
      const name = node?.metadata?.name;
      if (typeof name !== 'string') return false;
      const r = nodeRecord(node);
      const sig = r ? JSON.stringify(r) : '';
      if (records.get(name) === sig) return false;
      records.set(name, sig);
      return true;
    };
    const own = (node: any): void => {
      if (node?.metadata?.name !== this.o.nodeName) return;
      const ann = node.metadata.annotations ?? {};
      const seen = JSON.stringify([podCIDRsOf(node), Object.keys(ann).filter((k) => k.startsWith(ANNOTATION_PREFIX)).sort().map((k) => [k, ann[k]])]);
      this.lastNode = node;
      if (seen === ownSeen) return;
      ownSeen = seen;
      try {
        const subnets = this.subnetsOf(node);
        if (subnets.length && subnets.join(',') !== this.subnets.join(',')) {
          this.subnets = subnets;
          events.lease(subnets);
        }
      } catch (e) {
        this.o.log(describeError(e));
      }
      this.publish(node, signal).catch((e) => {
        ownSeen = ''; // try again on the next event
        this.o.log(`cannot annotate Node ${this.o.nodeName}: ${describeError(e)}`);
      });
    };
    while (!signal.aborted) {
      let rv: string;
      try {
        let pages = 1;
        const list = await this.client.list('/api/v1/nodes', signal, (n) => (pages = n));
        records.clear();
        for (const n of list.items) put(n);
        rv = list.resourceVersion;
        this.o.log(`listed ${records.size} Nodes at resourceVersion ${rv}${pages > 1 ? ` (${pages} pages)` : ''}`);
        events.connected(true, 'ok');
        emit();
        ownSeen = '';
        for (const n of list.items) own(n);
      } catch (e) {
        if (signal.aborted) return;
        const ms = backoff.next();
        events.connected(false, `cannot list Nodes: ${describeError(e)}`);
        this.o.log(`Kubernetes API ${this.client.server}: cannot list Nodes: ${describeError(e)}; retrying in ${ms / 1000}s`);
        await sleep(ms, signal);
        continue;
      }
      // Watch from rv until it is too old (410: list again), silent too long (list again) or fails (back off, list again).
      for (;;) {
        let failure: Error | undefined;
        let lastMessage = Date.now();
        let idle = '';
        const stream = this.client.watch(`/api/v1/nodes?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${encodeURIComponent(rv)}`, (ev) => {
          lastMessage = Date.now();
          const obj = ev.object ?? {};
          if (ev.type === 'ERROR') {
            failure = Object.assign(new Error(`watch error: ${obj.message ?? JSON.stringify(obj)} (code ${obj.code})`), { gone: obj.code === 410 });
            throw failure;
          }
          if (obj.metadata?.resourceVersion) rv = String(obj.metadata.resourceVersion);
          if (ev.type === 'BOOKMARK') return;
          const name = obj.metadata?.name;
          if (typeof name !== 'string') return;
          let changed: boolean;
          if (ev.type === 'DELETED') changed = records.delete(name);
          else {
            changed = put(obj);
            own(obj);
          }
          if (changed) emit();
        });
        const onAbort = (): void => stream.close();
        signal.addEventListener('abort', onAbort, { once: true });
        const timer = setInterval(() => {
          if (Date.now() - lastMessage <= idleMs) return;
          idle = `no event or bookmark from the Node watch for ${Math.round((Date.now() - lastMessage) / 1000)}s: the watch is taken for dead`;
          stream.close();
        }, Math.min(5000, Math.max(250, idleMs / 4)));
        this.restart = (why) => {
          idle = why;
          stream.close();
        };
        const err = failure ?? (await stream.done);
        this.restart = undefined;
        clearInterval(timer);
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        if (idle) {
          events.connected(false, idle);
          this.o.log(`${idle}; listing Nodes again`);
          break;
        }
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
    await this.client.patch(this.statusPath(), { metadata: { annotations: none } }, signal);
    this.o.log(`removed the cni-ts.io annotations from Node ${this.o.nodeName} (its spec.podCIDRs belong to the controller manager)`);
  }
}
