/** What a store (etcd or the Kubernetes API) provides the agent: this node's subnets and the other nodes. */
import type { Backend } from '../config.js';

/** One node of the cluster as the data path needs it. */
export interface NodeRecord {
  node: string;
  /** Underlay addresses (one per family). */
  publicIPs: string[];
  /** Pod subnets (one per family). */
  subnets: string[];
  backend: Backend;
  /** VXLAN device MAC (vxlan backend). */
  vtepMAC?: string;
}

/** What this node publishes about itself. */
export interface LocalInfo {
  publicIPs: string[];
  backend: Backend;
  vtepMAC?: string;
}

export interface StoreEvents {
  /** The full set of peers (every node but this one) after any change. */
  peers(peers: ReadonlyMap<string, NodeRecord>): void;
  /** This node's subnets, when they had to be acquired again (lease lost) or changed. */
  lease(subnets: readonly string[]): void;
  /** Connection state, for logs and /readyz: ok = peers listed and the watch running and not silent. */
  connected(ok: boolean, detail: string): void;
}

export interface Store {
  /** Describe the store for logs ("etcd http://…", "kubernetes https://…"). */
  readonly label: string;
  /**
   * Connect (retrying with a clear message while the store is unreachable), check the cluster's settings and obtain
   * this node's subnets. Rejects with a FatalStoreError (settings differ, space exhausted) or when `signal` aborts.
   */
  acquire(local: LocalInfo, signal: AbortSignal): Promise<string[]>;
  /** Follow peers (and keep the lease alive) until `signal` aborts. */
  follow(events: StoreEvents, signal: AbortSignal): Promise<void>;
  /** --cleanup: give this node's subnets back (etcd: delete its keys and revoke its lease; kubernetes: drop our annotations). */
  release(signal: AbortSignal): Promise<void>;
  /** Publish this node's record again after its underlay address or VTEP changed (after acquire). */
  update(local: LocalInfo, signal: AbortSignal): Promise<void>;
  /** End the current watch and list again now (this node's address changed: connections from the old one are dead). */
  restartWatch(why: string): void;
  /** Kubernetes: the Node's InternalIP(s), the default underlay there (retries until the API answers). */
  nodeIPs?(signal: AbortSignal): Promise<string[]>;
}

/** An error that retrying cannot fix: the agent exits with it. */
export class FatalStoreError extends Error {}
