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
  /** Seconds without a watch message (event, progress notification) after which the watch is restarted. */
  watchIdleTimeout?: number;
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

/** How often a lease is kept alive: a third of its TTL, at most every minute (renewal long before expiry). */
export const keepAliveEvery = (grantedTTL: number): number => Math.max(500, Math.min(grantedTTL * 1000 / 3, 60_000));

/**
 * Is the holder of a lease alive: renewed within two keep-alive periods (and a margin)? From etcd's timetolive:
 * remaining TTL and granted TTL in seconds (remaining -1: no such lease).
 */
export function holderAlive(ttl: { ttl: number; granted: number }): boolean {
  if (ttl.ttl <= 0 || ttl.granted <= 0) return false;
  const sinceRenewal = ttl.granted - ttl.ttl;
  return sinceRenewal * 1000 < 2 * keepAliveEvery(ttl.granted) + 5000;
}

const seconds = (ms: number): string => `${ms % 1000 ? (ms / 1000).toFixed(1) : ms / 1000}s`;

const sameIPs = (a: readonly string[], b: readonly string[]): boolean => a.length > 0 && a.some((x) => b.includes(x));

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
  /** The TTL etcd granted (it may differ from the one asked for: etcd raises a TTL below its minimum). */
  private grantedTTL = 0;
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

  /**
   * Keys of this node name held for another machine (other public IP, another lease). A live holder — its lease renewed
   * lately — is a second machine with this node name (a cloned VM): refused, naming both IPs. A silent one is this
   * machine before its address changed: taken over.
   */
  private async checkIdentity(kvs: KeyValue[], signal: AbortSignal): Promise<void> {
    const mine = this.local!.publicIPs;
    for (const kv of kvs) {
      const r = parseRecord(kv, this.o.prefix);
      if (!r || r.node !== this.o.nodeName || sameIPs(r.publicIPs, mine) || kv.lease === this.leaseID) continue;
      const ttl = kv.lease === '0' ? { ttl: -1, granted: 0 } : await this.client.timeToLive(kv.lease, signal);
      if (holderAlive(ttl)) {
        throw new FatalStoreError(
          `node name ${this.o.nodeName} is in use by another machine: ${r.subnet} is held by ${r.publicIPs.join(',')} (etcd lease ${kv.lease}, renewed ${ttl.granted - ttl.ttl}s ago) and this machine is ${mine.join(',')}; ` +
            'two machines must not share one node name (a cloned VM?): give this one its own --node-name, or stop the other and run --cleanup there',
        );
      }
      this.o.log(`${r.subnet} of node ${this.o.nodeName} is recorded for ${r.publicIPs.join(',')}, and its lease ${ttl.ttl > 0 ? `was last renewed ${ttl.granted - ttl.ttl}s ago` : 'is gone'}: this node's address changed to ${mine.join(',')}; taking it over`);
    }
  }

  /** One attempt at leasing: grant a lease when we have none, then the subnet transaction. */
  private async tryLease(signal: AbortSignal): Promise<boolean> {
    if (this.leaseID === '0') {
      const g = await this.client.grant(this.o.leaseTTL, signal);
      this.leaseID = g.id;
      this.grantedTTL = g.ttl || this.o.leaseTTL;
    }
    const { kvs } = await this.client.range(`${this.o.prefix}/subnets/`, { prefix: true }, signal);
    await this.checkIdentity(kvs, signal);
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
          const asked = this.grantedTTL !== this.o.leaseTTL ? ` (asked for ${this.o.leaseTTL}s)` : '';
          this.o.log(`leased ${this.subnets.join(', ')} in etcd (lease ${this.leaseID}, TTL ${this.grantedTTL}s as granted by etcd${asked}, renewed every ${seconds(keepAliveEvery(this.grantedTTL))})`);
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
    const old = this.leaseID;
    this.leaseID = '0';
    const subnets = await this.acquire(this.local!, signal);
    // The old lease holds none of our keys any more (or is gone): nothing should wait 24 h for it to expire.
    if (old !== '0' && old !== this.leaseID) await this.client.revoke(old, signal).catch(() => undefined);
    if (subnets.join(',') !== before) this.o.log(`this node's subnets changed from ${before} to ${subnets.join(',')}: pods made before keep their old addresses`);
    this.events?.lease(subnets);
  }

  private reacquireWanted = false;
  private wake: (() => void) | undefined;

  /** This node's keys are gone or someone else's: lease again now (not at the next keep-alive). */
  private wantReacquire(why: string): void {
    if (!this.reacquireWanted) this.o.log(why);
    this.reacquireWanted = true;
    this.wake?.();
  }

  private async keepAliveLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const every = keepAliveEvery(this.grantedTTL || this.o.leaseTTL);
      if (!this.reacquireWanted) {
        const woken = new Promise<boolean>((r) => (this.wake = () => r(true)));
        const pause = new AbortController();
        const onAbort = (): void => pause.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        await Promise.race([sleep(this.connected ? every : Math.min(every, 1000), pause.signal), woken]);
        pause.abort(); // the sleep's timer, when woken early
        signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        if (signal.aborted) return;
      }
      try {
        if (this.reacquireWanted) {
          this.reacquireWanted = false;
          await this.reacquire(signal);
          continue;
        }
        const ttl = await this.client.keepAlive(this.leaseID, signal);
        if (ttl > 0) this.grantedTTL = ttl;
        if (this.watching) this.setConnected(true, 'ok');
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

  /** True while the watch runs (listed and streaming); keep-alives alone do not make the store "connected". */
  private watching = false;
  private restart: ((why: string) => void) | undefined;

  /** End the current watch and list again (e.g. this node's address changed: its connections are dead). */
  restartWatch(why: string): void {
    this.restart?.(why);
  }

  private async watchLoop(signal: AbortSignal): Promise<void> {
    const prefix = `${this.o.prefix}/subnets/`;
    const backoff = new Backoff(500, 10_000);
    const idleMs = (this.o.watchIdleTimeout ?? 660) * 1000;
    while (!signal.aborted) {
      let stream: ReturnType<EtcdClient['watch']> | undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        const { kvs, revision } = await this.client.range(prefix, { prefix: true }, signal);
        const byKey = new Map<string, NodeRecord & { subnet: string }>();
        for (const kv of kvs) {
          const r = parseRecord(kv, this.o.prefix);
          if (r) byKey.set(kv.key, r);
        }
        this.emitPeers(byKey);
        this.checkOwnKeys(byKey);
        const endpoint = this.client.endpoint;
        let lastMessage = Date.now();
        let why = '';
        stream = this.client.watch(prefix, revision + 1, (evs: WatchEvent[]) => {
          for (const ev of evs) {
            if (ev.type === 'DELETE') {
              byKey.delete(ev.kv.key);
              const prev = ev.prev && parseRecord(ev.prev, this.o.prefix);
              if (prev?.node === this.o.nodeName && this.subnets.includes(prev.subnet) && !signal.aborted) this.wantReacquire(`this node's key ${ev.kv.key} was deleted from etcd; leasing again`);
            } else {
              const r = parseRecord(ev.kv, this.o.prefix);
              if (r) byKey.set(ev.kv.key, r);
              // Overwritten with another node's record (an operator, a misconfigured agent): not ours any more.
              if (r && r.node !== this.o.nodeName && this.subnets.includes(r.subnet) && !signal.aborted) this.wantReacquire(`this node's subnet ${r.subnet} is now held by node ${r.node} in etcd; leasing again`);
            }
          }
          this.emitPeers(byKey);
        }, () => (lastMessage = Date.now()));
        const onAbort = (): void => stream?.close();
        signal.addEventListener('abort', onAbort, { once: true });
        backoff.reset();
        this.watching = true;
        this.setConnected(true, 'ok');
        // A connection that died without a FIN (a crashed etcd host, a dropped NAT entry) is silent forever: with
        // progress notifications a live watch is never silent for long, so silence means it is dead. And when the
        // unary calls moved to another endpoint (this one failed), the watch moves too.
        timer = setInterval(() => {
          if (Date.now() - lastMessage > idleMs) why = `no event or progress notification from etcd ${endpoint} for ${Math.round((Date.now() - lastMessage) / 1000)}s: the watch is taken for dead`;
          else if (this.client.endpoint !== endpoint) why = `the etcd endpoint in use is now ${this.client.endpoint} (was ${endpoint}): watching there`;
          if (why) stream?.close();
        }, Math.min(5000, Math.max(250, idleMs / 4)));
        this.restart = (w) => {
          why = w;
          stream?.close();
        };
        const err = await stream.done;
        this.restart = undefined;
        signal.removeEventListener('abort', onAbort);
        this.watching = false;
        if (signal.aborted) return;
        // Not fresh any more (readiness); whether etcd is reachable, the list below finds out (and logs).
        if (why) {
          this.events?.connected(false, why);
          this.o.log(`${why}; listing again`);
          continue; // at once
        }
        const ended = `etcd watch ended (${err ? describeError(err) : 'closed by the server'})`;
        this.events?.connected(false, ended);
        this.o.log(`${ended}; listing again`);
      } catch (e) {
        this.watching = false;
        if (signal.aborted) return;
        this.setConnected(false, `etcd ${this.client.endpoint} unreachable: cannot list subnets: ${describeError(e)}`);
      } finally {
        if (timer) clearInterval(timer);
      }
      if (!(await sleep(backoff.next(), signal))) return;
    }
  }

  private checkOwnKeys(byKey: Map<string, NodeRecord & { subnet: string }>): void {
    const present = [...byKey.values()].filter((r) => r.node === this.o.nodeName).map((r) => r.subnet);
    if (this.subnets.some((s) => !present.includes(s))) this.wantReacquire(`this node's subnet ${this.subnets.filter((s) => !present.includes(s)).join(', ')} is not in etcd as this node's any more; leasing again`);
  }

  private lastPeers = '';

  private emitPeers(byKey: Map<string, NodeRecord & { subnet: string }>): void {
    const peers = peersFrom(byKey.values(), this.o.nodeName);
    const sig = JSON.stringify([...peers.entries()].sort());
    if (sig === this.lastPeers) return;
    this.lastPeers = sig;
    this.events?.peers(peers);
  }

  /** Publish this node's record again (its address or VTEP changed): the same keys and lease, the new value. */
  async update(local: LocalInfo, signal: AbortSignal): Promise<void> {
    this.local = local;
    if (this.leaseID === '0' || this.subnets.length === 0) return;
    const value = this.value(this.subnets);
    await this.client.txn([], this.subnets.map((s) => putOp(subnetKey(this.o.prefix, s), value, this.leaseID)), [], signal);
    this.o.log(`published this node's new record in etcd: ${value}`);
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
