/**
 * cni-ts-agent's operator features on the multi-node namespace cluster (test/helpers/cluster.ts) with a real etcd 3.4:
 * etcd over TLS with client certificates made here with openssl (a wrong CA named and retried until the CA file is
 * fixed, a missing client certificate named), etcd user/password authentication (a wrong password named; the token
 * refreshed after etcd expired it; a user without permission named), the masquerade options (traffic seen with or
 * without the pod's address by a receiver outside the cluster), --mtu, the subnet.env file and /metrics.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, OUTSIDE_IP, UNDERLAY_GW, haveEtcd, sourceSeen, waitFor, type Agent, type Node } from '../helpers/cluster.js';
import { DIST, isRoot, ping, sh, shOk } from '../helpers/harness.js';
import { haveOpenssl, issue, makeCA } from '../helpers/pki.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = undefined;
});

const CIDR = '10.244.0.0/22';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function bed(n: number, outside = false): Promise<Cluster> {
  const c = new Cluster('agf');
  cluster = c;
  for (let i = 0; i < n; i++) c.addNode();
  if (outside) c.addOutside();
  return c;
}

async function installCNI(c: Cluster): Promise<void> {
  for (const node of c.nodes) {
    const r = await c.runAgent(node, ['--install-cni', DIST, '--cni-bin-dir', node.binDir]);
    expect(r.status, r.log).toBe(0);
  }
}

const start = (c: Cluster, node: Node, extra: string[] = []): Agent => c.startAgent(node, c.agentArgs(node, ['--cluster-cidr', CIDR, '--lease-ttl', '4', '--resync-interval', '3', ...extra]));

describe.skipIf(!isRoot || !haveEtcd || !haveOpenssl)('cni-ts-agent: etcd over TLS and with authentication', () => {
  it('TLS client certificates (openssl): a wrong CA is named and retried until the CA file is fixed; a missing client certificate is named; pods talk across nodes', async () => {
    const c = await bed(2);
    const [n1, n2] = c.nodes as [Node, Node];
    const pki = c.net.tempDir();
    const ca = makeCA(pki, 'etcd-ca');
    const other = makeCA(pki, 'other-ca');
    const server = issue(pki, ca, 'etcd-server', { cn: 'etcd', ip: UNDERLAY_GW });
    const client = issue(pki, ca, 'agent-client', { cn: 'cni-ts-agent', client: true });
    c.etcdCurlArgs = ['--cacert', ca.cert, '--cert', client.cert, '--key', client.key];
    await c.startEtcd({ tls: { cert: server.cert, key: server.key, clientCA: ca.cert } });
    expect(c.etcdUrl).toBe(`https://${UNDERLAY_GW}:2379`);
    // etcd really requires the client certificate.
    expect(sh('ip', ['netns', 'exec', c.underlay, 'curl', '-sf', '--max-time', '3', '--cacert', ca.cert, '-X', 'POST', `${c.etcdUrl}/v3/kv/range`, '-d', '{"key":"AA=="}']).status).not.toBe(0);
    await installCNI(c);

    // node-1's CA file holds another CA: the error names the file, the agent retries…
    const caFile = join(c.net.tempDir(), 'ca.pem');
    copyFileSync(other.cert, caFile);
    const tlsArgs = (cafile: string) => ['--etcd-cafile', cafile, '--etcd-certfile', client.cert, '--etcd-keyfile', client.key];
    const a1 = start(c, n1, tlsArgs(caFile));
    await a1.waitLog(new RegExp(`etcd https://192\\.168\\.77\\.1:2379 unreachable or failing: TLS: the server's certificate is not signed by the CA in --etcd-cafile ${caFile.replace(/[.]/g, '\\.')}; retrying in \\d+s`));
    expect(a1.exitCode).toBeUndefined();
    expect(c.conflist(n1)).toBeUndefined(); // nothing written while the store is out of reach
    // …and once the file holds the right CA, the same process connects (the file is re-read).
    copyFileSync(ca.cert, caFile);
    await a1.waitLog(/leased \S+ in etcd/, 40_000);
    await a1.waitLog(/wrote .*conflist/);

    // node-2 without a client certificate: named; then with one, it joins.
    const bad = start(c, n2, ['--etcd-cafile', ca.cert]);
    await bad.waitLog(/TLS: the server requires a client certificate and none is configured; retrying/);
    expect(await bad.stop()).toBe(0);
    const a2 = start(c, n2, tlsArgs(ca.cert));
    await a2.waitLog(/wrote .*conflist/);

    const [s1, s2] = [c.subnetsOf(n1)[0]!, c.subnetsOf(n2)[0]!];
    await waitFor('the nodes to route to each other', () => c.agentRoutes(n1.netns).some((r) => r.dst === s2) && c.agentRoutes(n2.netns).some((r) => r.dst === s1));
    const keys = c.etcdList('/cni-ts/network/subnets/');
    expect(Object.values(keys).map((v) => JSON.parse(v).node).sort()).toEqual(['node-1', 'node-2']);
    const p1 = c.addPod(n1, 'p1');
    const p2 = c.addPod(n2, 'p2');
    expect(ping(p1.netns, p2.ip, 2)).toBe(true);
    expect([a1.exitCode, a2.exitCode]).toEqual([undefined, undefined]);
  });

  it('user/password: a wrong password is named and retried; an expired token is replaced; a user without permission is named', async () => {
    const c = await bed(2);
    const [n1, n2] = c.nodes as [Node, Node];
    // Simple tokens expire 2 s after their last use (and with an etcd restart, which keeps them in memory only).
    await c.startEtcd({ extraArgs: ['--auth-token-ttl', '2'] });
    const call = (path: string, body: unknown) => {
      const r = c.etcdCall(path, body);
      if (r === undefined) throw new Error(`etcd ${path} failed`);
      return r;
    };
    call('auth/user/add', { name: 'root', password: 'rootpw' });
    call('auth/user/grant', { user: 'root', role: 'root' });
    call('auth/role/add', { name: 'cni-ts' });
    call('auth/role/grant', { name: 'cni-ts', perm: { key: b64('/cni-ts/'), range_end: b64('/cni-ts0'), permType: 'READWRITE' } });
    call('auth/user/add', { name: 'cni-ts', password: 's3cret pass' });
    call('auth/user/grant', { user: 'cni-ts', role: 'cni-ts' });
    call('auth/user/add', { name: 'nobody', password: 'x' });
    call('auth/enable', {});
    /** As root (a fresh token each time: they expire after 2 s). */
    const asRoot = () => {
      c.etcdCurlArgs = [];
      const token = call('auth/authenticate', { name: 'root', password: 'rootpw' }).token;
      c.etcdCurlArgs = ['-H', `Authorization: ${token}`];
    };
    expect(c.etcdCall('kv/range', { key: 'AA==' })).toBeUndefined(); // auth is on
    await installCNI(c);
    const extra = ['--lease-ttl', '30', '--etcd-username', 'cni-ts'];

    const wrong = start(c, n1, [...extra, '--etcd-password', 'guess']);
    await wrong.waitLog(/etcdserver: authentication failed, invalid user ID or password \(etcd rejected --etcd-username "cni-ts" with the --etcd-password given\); retrying/);
    expect(await wrong.stop()).toBe(0);
    const denied = start(c, n1, ['--etcd-username', 'nobody', '--etcd-password', 'x']);
    await denied.waitLog(/etcdserver: permission denied \(etcd user "nobody" may not kv\/txn: grant its role read and write on the --etcd-prefix keys\); retrying/);
    expect(await denied.stop()).toBe(0);

    // The password from a config file (not on the command line).
    const cfgFile = join(c.net.tempDir(), 'agent.json');
    writeFileSync(cfgFile, JSON.stringify({ 'etcd-password': 's3cret pass' }));
    const [a1, a2] = [start(c, n1, [...extra, '--config', cfgFile]), start(c, n2, [...extra, '--config', cfgFile])];
    await Promise.all([a1, a2].map((a) => a.waitLog(/wrote .*conflist/)));
    expect(a1.log).toContain('authenticated to etcd as user "cni-ts"');
    const s2 = c.subnetsOf(n2)[0]!;
    await waitFor('node-1 to route to node-2', () => c.agentRoutes(n1.netns).some((r) => r.dst === s2));
    // etcd restarted after the tokens expired: the agents list again with a refused token, authenticate again, and
    // keep their leases (the keep-alive needs no token).
    await new Promise((r) => setTimeout(r, 3000));
    await c.stopEtcd();
    await c.startEtcd({ extraArgs: ['--auth-token-ttl', '2'] });
    await a1.waitLog(/etcd token of user "cni-ts" refused \(expired\): authenticated again/, 40_000);
    asRoot();
    const keys = c.etcdList('/cni-ts/network/subnets/');
    expect(Object.keys(keys)).toHaveLength(2);
    const lease = (key: string) => c.etcdCall('kv/range', { key: b64(key) }).kvs[0].lease;
    const k1 = Object.keys(keys).find((k) => JSON.parse(keys[k]!).node === 'node-1')!;
    expect(Number(c.etcdCall('lease/timetolive', { ID: lease(k1) }).TTL)).toBeGreaterThan(10);
    // The watch, opened with an earlier token, still delivers: a peer written now is routed to.
    const free = ['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'].find((s) => s !== c.subnetsOf(n1)[0] && s !== s2)!;
    asRoot();
    call('kv/put', { key: b64(`/cni-ts/network/subnets/${free.replace('/', '-')}`), value: b64(JSON.stringify({ node: 'node-9', publicIPs: ['192.168.77.99'], subnets: [free], backend: 'vxlan', vtepMAC: '02:00:00:00:00:99' })) });
    await waitFor('node-1 to route to node-9', () => c.agentRoutes(n1.netns).some((r) => r.dst === free));
    expect([a1.exitCode, a2.exitCode]).toEqual([undefined, undefined]);
  });
});

describe.skipIf(!isRoot || !haveEtcd)('cni-ts-agent: masquerade options, --mtu, subnet.env, /metrics', () => {
  it('--ip-masq=false, --no-masquerade-cidr and fully random ports as seen by a receiver outside the cluster; --mtu; subnet.env; /metrics', async () => {
    const c = await bed(2, true);
    const [n1, n2] = c.nodes as [Node, Node];
    const out = c.outside!;
    const OTHER = '192.168.77.201'; // a second outside address, not excluded from masquerade
    shOk('ip', ['-n', out, 'addr', 'add', `${OTHER}/24`, 'dev', 'eth0']);
    await c.startEtcd();
    await installCNI(c);
    const envFile = (n: Node) => join(n.dir, 'run', 'subnet.env');

    // node-1 first with the defaults: its table masquerades with fully random ports…
    let a1 = start(c, n1, ['--subnet-file', envFile(n1)]);
    await a1.waitLog(/masquerading traffic .*\(fully random ports\)/); // logged once the table is in place
    const nft1 = sh('ip', ['netns', 'exec', n1.netns, 'nft', 'list', 'table', 'inet', 'cni_ts_agent']).stdout;
    expect(nft1).toContain(`ip saddr ${CIDR} masquerade fully-random`);
    expect(await a1.stop()).toBe(0);
    // …restarted with --ip-masq=false and --mtu 1400: our table is removed, nothing masquerades.
    a1 = start(c, n1, ['--subnet-file', envFile(n1), '--ip-masq=false', '--mtu', '1400']);
    await a1.waitLog(/--ip-masq=false: removed the nft table inet cni_ts_agent of an earlier run/);
    await a1.waitLog(/wrote .*conflist/);
    expect(sh('ip', ['netns', 'exec', n1.netns, 'nft', 'list', 'table', 'inet', 'cni_ts_agent']).status).not.toBe(0);
    const a2 = start(c, n2, ['--subnet-file', envFile(n2), '--no-masquerade-cidr', `${OUTSIDE_IP}/32`]);
    await a2.waitLog(/wrote .*conflist/);
    await a2.waitLog(/masquerading traffic from 10\.244\.0\.0\/22 leaving the cluster except to 192\.168\.77\.200\/32 \(fully random ports\)/);
    const [s1, s2] = [c.subnetsOf(n1)[0]!, c.subnetsOf(n2)[0]!];

    // subnet.env, in flannel's format.
    await a1.waitLog(/wrote \S+\/subnet\.env/);
    await a2.waitLog(/wrote \S+\/subnet\.env/);
    const gw = (s: string) => s.replace(/0\/24$/, '1/24');
    expect(readFileSync(envFile(n1), 'utf8')).toBe(`FLANNEL_NETWORK=${CIDR}\nFLANNEL_SUBNET=${gw(s1)}\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=false\n`);
    expect(readFileSync(envFile(n2), 'utf8')).toBe(`FLANNEL_NETWORK=${CIDR}\nFLANNEL_SUBNET=${gw(s2)}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
    // --mtu: the conflist and the VXLAN device.
    expect((c.conflist(n1) as any).plugins[0].mtu).toBe(1400);
    expect(c.ipJson(n1.netns, ['link', 'show', 'dev', 'cni-ts.1'])[0].mtu).toBe(1400);
    expect(c.ipJson(n2.netns, ['link', 'show', 'dev', 'cni-ts.1'])[0].mtu).toBe(1450);

    // What the outside sees. It routes the pod subnets back to the nodes (so unmasqueraded replies can return).
    shOk('ip', ['-n', out, '-batch', '-'], `route add ${s1} via ${n1.ip}\nroute add ${s2} via ${n2.ip}\n`);
    const p1 = c.addPod(n1, 'p1');
    const p2 = c.addPod(n2, 'p2');
    expect(await sourceSeen(p1.netns, out, OUTSIDE_IP, 8091)).toBe(p1.ip); // --ip-masq=false
    expect(await sourceSeen(p2.netns, out, OUTSIDE_IP, 8092)).toBe(p2.ip); // --no-masquerade-cidr
    expect(await sourceSeen(p2.netns, out, OTHER, 8093)).toBe(n2.ip); // anything else: masqueraded
    expect(ping(p1.netns, p2.ip)).toBe(true); // pod to pod across nodes, MTUs differing

    // /metrics on the health address.
    await waitFor('a reconcile with the peer', () => /cni_ts_agent_peers 1\n/.test(metrics(n2)));
    const m = metrics(n2);
    expect(m).toContain('# TYPE cni_ts_agent_reconciles_total counter');
    expect(Number(/cni_ts_agent_reconciles_total (\d+)/.exec(m)![1])).toBeGreaterThanOrEqual(1);
    expect(Number(/cni_ts_agent_datapath_changes_total (\d+)/.exec(m)![1])).toBeGreaterThanOrEqual(3); // route, neighbour, FDB of node-1
    expect(m).toContain('cni_ts_agent_reconcile_errors_total 0\n');
    expect(m).toContain('cni_ts_agent_store_connected 1\n');
    expect(m).toMatch(/cni_ts_agent_info\{node="node-2",backend="vxlan",store="etcd",version="[^"]+"\} 1/);
    expect(Number(/cni_ts_agent_last_reconcile_timestamp_seconds ([\d.]+)/.exec(m)![1])).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(Number(/process_resident_memory_bytes (\d+)/.exec(m)![1])).toBeGreaterThan(1_000_000);
    const before = Number(/cni_ts_agent_reconciles_total (\d+)/.exec(m)![1]);
    await waitFor('a periodic resync to count', () => Number(/cni_ts_agent_reconciles_total (\d+)/.exec(metrics(n2))![1]) > before, 15_000);
    await c.stopEtcd();
    await waitFor('/metrics to report the store gone', () => metrics(n2).includes('cni_ts_agent_store_connected 0\n'), 20_000);
    expect(metrics(n2)).toMatch(/cni_ts_agent_store_disconnects_total [1-9]/);

    // --cleanup removes subnet.env with the rest.
    expect(await a1.stop()).toBe(0);
    await c.startEtcd();
    const cl = await c.runAgent(n1, c.agentArgs(n1, ['--cluster-cidr', CIDR, '--subnet-file', envFile(n1), '--cleanup']));
    expect(cl.status, cl.log).toBe(0);
    expect(cl.log).toContain(`cleanup: removed ${envFile(n1)}`);
    expect(existsSync(envFile(n1))).toBe(false);
  });

  it('--mtu larger than the underlay carries is refused before anything changes', async () => {
    const c = await bed(1);
    const [n1] = c.nodes as [Node];
    await c.startEtcd();
    const r = await c.runAgent(n1, c.agentArgs(n1, ['--cluster-cidr', CIDR, '--mtu', '1480']));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/--mtu 1480 is larger than the underlay eth0 \(MTU 1500\) carries with the VXLAN overhead \(50 bytes\): at most 1450/);
    expect(c.ipJson(n1.netns, ['link', 'show']).map((l) => l.ifname)).not.toContain('cni-ts.1');
    expect(c.conflist(n1)).toBeUndefined();
    expect(Object.keys(c.etcdList('/cni-ts/network/subnets/'))).toEqual([]);
  });
});

function metrics(n: Node): string {
  return sh('ip', ['netns', 'exec', n.netns, 'curl', '-s', '--max-time', '3', 'http://127.0.0.1:9876/metrics']).stdout;
}
