/**
 * The etcd store: the cluster's settings stored once, one key per leased subnet attached to this node's etcd lease,
 * and a watch on the subnet keys to follow the other nodes.
 *
 *   <prefix>/config                      {"clusterCIDRs":[…],"subnetLen":24,…}   (no lease; written by the first node)
 *   <prefix>/subnets/10.244.3.0-24       {"node":"n1","publicIPs":[…],"subnets":[…],"backend":"vxlan","vtepMAC":"…"}
 *
 * A subnet is taken with one transaction that succeeds only if its key does not exist (create_revision = 0), or, for
 * this node's own key from before a restart, if it is unchanged since read (mod_revision) — so two nodes never share
 * one, and a node gets its subnet back while its old lease lives (or from its state file once it has expired).
 */
import { parseCIDR, type Family } from '../../lib/ip.js';
import { settingsDiff, type ClusterSettings } from '../config.js';
import { isSubnetOf, pickSubnet, subnetCount } from '../subnets.js';
import { Backoff, describeError, sleep } from './http.js';
import { EtcdClient, EtcdError, createdAt, deleteOp, modifiedAt, putOp, type Compare, type EtcdTransport, type KeyValue, type WatchEvent } from './etcd-client.js';
import { FatalStoreError, type LocalInfo, type NodeRecord, type Store, type StoreEvents } from './types.js';

export interface EtcdStoreOptions {
  endpoints: string[];
  prefix: string;
  nodeName: string;
  settings: ClusterSettings;
  leaseTTL: number;
  /** Subnets this node had before (from its state file): taken again when free. */
  previous: string[];
  log: (msg: string) => void;
  random?: () => number;
  /** https client certificates and CA, user/password authentication. */
  transport?: EtcdTransport;
}

export const subnetKey = (prefix: string, subnet: string): string => `${prefix}/subnets/${subnet.replace('/', '-')}`;
export const configKey = (prefix: string): string => `${prefix}/config`;

/** A subnet key's record, or undefined when it is not one of ours (malformed keys and values are ignored). */
export function parseRecord(kv: KeyValue, prefix: string): (NodeRecord & { subnet: string }) | undefined {
  const base = `${prefix}/subnets/`;
  if (!kv.key.startsWith(base)) return undefined;
  const name = kv.key.slice(base.length);
  const dash = name.lastIndexOf('-');
  const subnet = `${name.slice(0, dash)}/${name.slice(dash + 1)}`;
  if (dash < 0 || !parseCIDR(subnet)) return undefined;
  try {
    const r = JSON.parse(kv.value);
    if (typeof r.node !== 'string' || !Array.isArray(r.publicIPs)) return undefined;
    return { node: r.node, publicIPs: r.publicIPs.map(String), subnets: [subnet], backend: r.backend === 'host-gw' ? 'host-gw' : 'vxlan', vtepMAC: typeof r.vtepMAC === 'string' ? r.vtepMAC : undefined, subnet };
  } catch {
    return undefined;
  }
}

/** Group subnet records by node (a dual-stack node has two keys). */
export function peersFrom(records: Iterable<NodeRecord & { subnet: string }>, self: string): Map<string, NodeRecord> {
  const out = new Map<string, NodeRecord>();
  for (const r of records) {
    if (r.node === self) continue;
    const prev = out.get(r.node);
    if (prev) prev.subnets = [...prev.subnets, r.subnet].sort();
    else out.set(r.node, { node: r.node, publicIPs: r.publicIPs, subnets: [r.subnet], backend: r.backend, vtepMAC: r.vtepMAC });
  }
  return out;
}

export interface SubnetPlan {
  subnets: string[];
  compare: Compare[];
  success: Array<Record<string, unknown>>;
}

/**
 * Plan the transaction that leases one subnet per cluster CIDR. `kvs` are the current subnet keys. Pure; throws a
 * FatalStoreError naming the range when a family's space is exhausted.
 */
export function planLease(o: { prefix: string; nodeName: string; settings: ClusterSettings; kvs: KeyValue[]; previous: string[]; value: (subnets: string[]) => string; lease: string; random?: () => number }): SubnetPlan {
  const records = o.kvs.map((kv) => ({ kv, rec: parseRecord(kv, o.prefix) })).filter((x) => x.rec);
  const taken = new Set(records.filter((x) => x.rec!.node !== o.nodeName).map((x) => x.rec!.subnet));
  const mine = records.filter((x) => x.rec!.node === o.nodeName);
  const subnets: string[] = [];
  const compare: Compare[] = [];
  const keep = new Set<string>();
  for (const cidr of o.settings.clusterCIDRs) {
    const cluster = parseCIDR(cidr)!;
    const fam: Family = cluster.ip.family;
    const len = fam === 4 ? o.settings.subnetLen : o.settings.subnetLenV6;
    const own = mine.find((x) => isSubnetOf(cluster, len, x.rec!.subnet));
    if (own) {
      subnets.push(own.rec!.subnet);
      compare.push(modifiedAt(own.kv.key, own.kv.modRevision));
      keep.add(own.kv.key);
      continue;
    }
    const preferred = o.previous.find((p) => isSubnetOf(cluster, len, p));
    const s = pickSubnet(cluster, len, taken, preferred, o.random);
    if (!s) {
      const holders = [...new Set(records.filter((x) => x.rec!.node !== o.nodeName && isSubnetOf(cluster, len, x.rec!.subnet)).map((x) => x.rec!.node))];
      throw new FatalStoreError(
        `subnet space exhausted: all ${subnetCount(cluster, len)} /${len} subnets of ${cidr} are leased (by ${holders.slice(0, 8).join(', ')}${holders.length > 8 ? ', …' : ''}); ` +
          'remove a node (cni-ts-agent --cleanup) or wait for a dead node\'s lease to expire',
      );
    }
    subnets.push(s);
    compare.push(createdAt(subnetKey(o.prefix, s), 0));
  }
  const value = o.value(subnets);
  const success = subnets.map((s) => putOp(subnetKey(o.prefix, s), value, o.lease));
  // Keys of this node that no longer fit (another family or length than the settings now say) are dropped.
  for (const x of mine) if (!keep.has(x.kv.key)) success.push(deleteOp(x.kv.key));
  return { subnets, compare, success };
}

export class EtcdStore implements Store {
  readonly client: EtcdClient;
  private leaseID = '0';
  private subnets: string[] = [];
  private local: LocalInfo | undefined;
  private connected = true;

  constructor(private readonly o: EtcdStoreOptions) {
    this.client = new EtcdClient(o.endpoints, undefined, o.transport);
  }

  get label(): string {
    return `etcd ${this.o.endpoints.join(',')} (prefix ${this.o.prefix})`;
  }

  private value(subnets: string[]): string {
    const l = this.local!;
    return JSON.stringify({ node: this.o.nodeName, publicIPs: l.publicIPs, subnets, backend: l.backend, ...(l.vtepMAC ? { vtepMAC: l.vtepMAC } : {}) });
  }

  /** Store the settings if the cluster has none yet; refuse to go on when they differ from ours. */
  private async checkSettings(signal: AbortSignal): Promise<void> {
    const key = configKey(this.o.prefix);
    const r = await this.client.txn([createdAt(key, 0)], [putOp(key, JSON.stringify(this.o.settings))], [{ request_range: { key: Buffer.from(key).toString('base64') } }], signal);
    if (r.succeeded) {
      this.o.log(`stored the cluster settings in etcd ${key}: ${JSON.stringify(this.o.settings)}`);
      return;
    }
    const stored = r.ranges[0]?.[0];
    if (!stored) return; // deleted in between: the next attempt stores ours
    let parsed: ClusterSettings;
    try {
      parsed = JSON.parse(stored.value);
    } catch {
      throw new FatalStoreError(`etcd key ${key} does not hold cni-ts cluster settings: ${stored.value.slice(0, 200)}`);
    }
    const diff = settingsDiff(parsed, this.o.settings);
    if (diff.length) throw new FatalStoreError(`this node's settings differ from the cluster's (etcd ${key}): ${diff.join('; ')}`);
  }

  /** One attempt at leasing: grant a lease when we have none, then the subnet transaction. */
  private async tryLease(signal: AbortSignal): Promise<boolean> {
    if (this.leaseID === '0') this.leaseID = (await this.client.grant(this.o.leaseTTL, signal)).id;
    const { kvs } = await this.client.range(`${this.o.prefix}/subnets/`, { prefix: true }, signal);
    const plan = planLease({
      prefix: this.o.prefix,
      nodeName: this.o.nodeName,
      settings: this.o.settings,
      kvs,
      previous: this.subnets.length ? this.subnets : this.o.previous,
      value: (s) => this.value(s),
      lease: this.leaseID,
      random: this.o.random,
    });
    const r = await this.client.txn(plan.compare, plan.success, [], signal);
    if (!r.succeeded) return false;
    this.subnets = plan.subnets;
    return true;
  }

  async acquire(local: LocalInfo, signal: AbortSignal): Promise<string[]> {
    this.local = local;
    const backoff = new Backoff();
    let races = 0;
    for (;;) {
      if (signal.aborted) throw new Error('stopped');
      try {
        await this.checkSettings(signal);
        if (await this.tryLease(signal)) {
          this.o.log(`leased ${this.subnets.join(', ')} in etcd (lease ${this.leaseID}, TTL ${this.o.leaseTTL}s)`);
          this.setConnected(true, 'ok');
          return this.subnets;
        }
        races++;
        this.o.log(`another node took the subnet this node asked for; choosing again (attempt ${races})`);
        if (races < 20) continue;
      } catch (e) {
        if (e instanceof FatalStoreError) throw e;
        if (signal.aborted) throw new Error('stopped');
        if (e instanceof EtcdError && /lease not found/.test(e.message)) this.leaseID = '0';
        const ms = backoff.next();
        this.setConnected(false, `etcd ${this.client.endpoint} unreachable or failing: ${describeError(e)}; retrying in ${ms / 1000}s`);
        await sleep(ms, signal);
        continue;
      }
      await sleep(backoff.next(), signal);
    }
  }

  private events: StoreEvents | undefined;

  private lastFailureLog = 0;

  private lastFailure = '';

  /**
   * Logs every change of state, and while unreachable at most one failure every 30 s (keep-alive retries each second)
   * — or at once when the failure is a different one (e.g. the CA fixed, now the client certificate is refused).
   */
  private setConnected(ok: boolean, detail: string): void {
    const now = Date.now();
    const failure = detail.replace(/; retrying in \d+(\.\d+)?s$/, '');
    const changed = !ok && failure !== this.lastFailure;
    if (ok !== this.connected) this.o.log(ok ? `etcd ${this.client.endpoint} reachable again` : detail);
    else if (!ok && (changed || now - this.lastFailureLog >= 30_000)) this.o.log(detail);
    if (!ok && (ok !== this.connected || changed || now - this.lastFailureLog >= 30_000)) this.lastFailureLog = now;
    this.lastFailure = ok ? '' : failure;
    this.connected = ok;
    this.events?.connected(ok, detail);
  }

  async follow(events: StoreEvents, signal: AbortSignal): Promise<void> {
    this.events = events;
    await Promise.all([this.keepAliveLoop(signal), this.watchLoop(signal)]);
  }

  /** Lease lost (expired while etcd was unreachable, or revoked): lease again, preferring the same subnets. */
  private async reacquire(signal: AbortSignal): Promise<void> {
    const before = this.subnets.join(',');
    this.leaseID = '0';
    const subnets = await this.acquire(this.local!, signal);
    if (subnets.join(',') !== before) this.o.log(`this node's subnets changed from ${before} to ${subnets.join(',')}: pods made before keep their old addresses`);
    this.events?.lease(subnets);
  }

  private reacquireWanted = false;

  private async keepAliveLoop(signal: AbortSignal): Promise<void> {
    const every = Math.max(500, (this.o.leaseTTL * 1000) / 3);
    while (!signal.aborted) {
      if (!(await sleep(this.connected ? every : Math.min(every, 1000), signal))) return;
      try {
        if (this.reacquireWanted) {
          this.reacquireWanted = false;
          await this.reacquire(signal);
          continue;
        }
        const ttl = await this.client.keepAlive(this.leaseID, signal);
        this.setConnected(true, 'ok');
        if (ttl <= 0) {
          this.o.log(`etcd lease ${this.leaseID} of ${this.subnets.join(', ')} is gone (expired or revoked); leasing again`);
          await this.reacquire(signal);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof FatalStoreError) {
          this.o.log(`cannot lease a subnet again: ${e.message}`);
          continue;
        }
        this.setConnected(false, `etcd ${this.client.endpoint} unreachable: keep-alive of lease ${this.leaseID} failed: ${describeError(e)}`);
      }
    }
  }

  private async watchLoop(signal: AbortSignal): Promise<void> {
    const prefix = `${this.o.prefix}/subnets/`;
    const backoff = new Backoff(500, 10_000);
    while (!signal.aborted) {
      let stream: ReturnType<EtcdClient['watch']> | undefined;
      try {
        const { kvs, revision } = await this.client.range(prefix, { prefix: true }, signal);
        const byKey = new Map<string, NodeRecord & { subnet: string }>();
        for (const kv of kvs) {
          const r = parseRecord(kv, this.o.prefix);
          if (r) byKey.set(kv.key, r);
        }
        this.emitPeers(byKey);
        this.checkOwnKeys(byKey);
        stream = this.client.watch(prefix, revision + 1, (evs: WatchEvent[]) => {
          for (const ev of evs) {
            if (ev.type === 'DELETE') {
              byKey.delete(ev.kv.key);
              const prev = ev.prev && parseRecord(ev.prev, this.o.prefix);
              if (prev?.node === this.o.nodeName && this.subnets.includes(prev.subnet) && !signal.aborted) {
                this.o.log(`this node's key ${ev.kv.key} was deleted from etcd; leasing again`);
                this.reacquireWanted = true;
              }
            } else {
              const r = parseRecord(ev.kv, this.o.prefix);
              if (r) byKey.set(ev.kv.key, r);
            }
          }
          this.emitPeers(byKey);
        });
        const onAbort = (): void => stream?.close();
        signal.addEventListener('abort', onAbort, { once: true });
        backoff.reset();
        const err = await stream.done;
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        this.o.log(`etcd watch ended (${err ? describeError(err) : 'closed by the server'}); listing again`);
      } catch (e) {
        if (signal.aborted) return;
        this.setConnected(false, `etcd ${this.client.endpoint} unreachable: cannot list subnets: ${describeError(e)}`);
      }
      if (!(await sleep(backoff.next(), signal))) return;
    }
  }

  private checkOwnKeys(byKey: Map<string, NodeRecord & { subnet: string }>): void {
    const present = [...byKey.values()].filter((r) => r.node === this.o.nodeName).map((r) => r.subnet);
    if (this.subnets.some((s) => !present.includes(s))) this.reacquireWanted = true;
  }

  private lastPeers = '';

  private emitPeers(byKey: Map<string, NodeRecord & { subnet: string }>): void {
    const peers = peersFrom(byKey.values(), this.o.nodeName);
    const sig = JSON.stringify([...peers.entries()].sort());
    if (sig === this.lastPeers) return;
    this.lastPeers = sig;
    this.events?.peers(peers);
  }

  async release(signal: AbortSignal): Promise<void> {
    const { kvs } = await this.client.range(`${this.o.prefix}/subnets/`, { prefix: true }, signal);
    const mine = kvs.filter((kv) => parseRecord(kv, this.o.prefix)?.node === this.o.nodeName);
    for (const lease of new Set(mine.map((kv) => kv.lease).filter((l) => l !== '0'))) {
      await this.client.revoke(lease, signal);
      this.o.log(`revoked etcd lease ${lease}`);
    }
    for (const kv of mine) {
      // Keys without a lease, or re-leased meanwhile: delete only if unchanged since read.
      const r = await this.client.txn([modifiedAt(kv.key, kv.modRevision)], [deleteOp(kv.key)], [], signal);
      if (r.succeeded) this.o.log(`deleted etcd key ${kv.key}`);
    }
    if (mine.length === 0) this.o.log(`no subnet of node ${this.o.nodeName} in etcd`);
    else this.o.log(`released ${mine.map((kv) => parseRecord(kv, this.o.prefix)!.subnet).join(', ')}`);
  }
}
