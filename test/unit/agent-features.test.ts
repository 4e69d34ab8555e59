/**
 * The agent's operator features, pure parts: the new flags, etcd TLS/auth error descriptions and the token flow,
 * kubeconfig resolution, masquerade options, subnet.env, /metrics text, and that every change line of a reconcile is
 * one lib/rtnetlink takes over (sent in-process). The effects are proven in test/integration/agent-features.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AgentConfigError, loadConfig } from '../../agent/config.js';
import { diffState, wantedState } from '../../agent/datapath.js';
import { masqScript } from '../../agent/masq.js';
import { Metrics, renderMetrics } from '../../agent/metrics.js';
import { EtcdAuth, explainAuthError, isTokenProblem } from '../../agent/store/etcd-auth.js';
import { explainGateway } from '../../agent/store/etcd-client.js';
import { KubeconfigError, kubeconfigAccess, parseKubeconfigText, resolveKubeconfig } from '../../agent/store/kubeconfig.js';
import { describeTlsError, TlsSetupError } from '../../agent/store/tls.js';
import { renderSubnetEnv } from '../../agent/subnet-env.js';
import type { NodeRecord } from '../../agent/store/types.js';
import { parseBridge, parseIp } from '../../lib/rtnetlink/ipcmd.js';
import type { Request } from '../../lib/rtnetlink/request.js';

const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(['--cluster-cidr', '10.244.0.0/16', ...argv], env, () => 'host-a', () => {
  throw new Error('ENOENT');
});

describe('agent flags of issue 16 (part 2)', () => {
  it('defaults: masquerade on with fully random ports, MTU from the underlay, subnet.env in /run/cni-ts, no TLS, no auth', () => {
    expect(load([])).toMatchObject({ ipMasq: true, masqFullyRandom: true, noMasqCIDRs: [], mtu: 0, subnetFile: '/run/cni-ts/subnet.env', etcdCAFile: '', etcdCertFile: '', etcdUsername: '', kubeconfigFile: '' });
  });

  it('values from flags and the environment, as every flag', () => {
    const c = load(['--ip-masq=false', '--no-masquerade-cidr', '192.168.0.0/16, 10.96.0.0/12', '--masq-fully-random=false', '--mtu', '1400', '--subnet-file', '/tmp/x/subnet.env', '--etcd-endpoints', 'https://10.0.0.1:2379', '--etcd-cafile', '/ca.pem', '--etcd-certfile', '/c.pem', '--etcd-keyfile', '/k.pem', '--etcd-username', 'cni'], { CNI_TS_AGENT_ETCD_PASSWORD: ' pass word ' });
    expect(c).toMatchObject({ ipMasq: false, noMasqCIDRs: ['192.168.0.0/16', '10.96.0.0/12'], masqFullyRandom: false, mtu: 1400, subnetFile: '/tmp/x/subnet.env', etcdCAFile: '/ca.pem', etcdCertFile: '/c.pem', etcdKeyFile: '/k.pem', etcdUsername: 'cni', etcdPassword: ' pass word ' });
    expect(load(['--kubeconfig-file', '/k'], { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }).kubeAPIServer).toBe(''); // the kubeconfig's server, not in-cluster
    expect(load([], { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }).kubeAPIServer).toBe('https://10.96.0.1:443');
  });

  it('bad combinations are refused naming the flags', () => {
    const bad: Array<[string[], RegExp]> = [
      [['--etcd-certfile', '/c.pem', '--etcd-endpoints', 'https://e:2379'], /--etcd-certfile needs --etcd-keyfile too/],
      [['--etcd-keyfile', '/k.pem', '--etcd-endpoints', 'https://e:2379'], /--etcd-keyfile needs --etcd-certfile too/],
      [['--etcd-cafile', '/ca.pem'], /--etcd-cafile is given but no --etcd-endpoints URL is https:\/\//],
      [['--etcd-username', 'u'], /--etcd-username needs --etcd-password/],
      [['--etcd-password', 'p'], /--etcd-password needs --etcd-username/],
      [['--no-masquerade-cidr', '192.168.1.1/16'], /--no-masquerade-cidr: 192\.168\.1\.1\/16 has host bits set \(did you mean 192\.168\.0\.0\/16\?\)/],
      [['--no-masquerade-cidr', 'nope'], /"nope" is not a CIDR/],
      [['--mtu', '100'], /--mtu: 100 is too small/],
      [['--mtu', '1200', '--cluster-cidr', '10.244.0.0/16,fd00::/56'], /below IPv6's minimum of 1280/],
      [['--subnet-file', 'relative.env'], /--subnet-file "relative.env" must be an absolute path/],
      [['--ip-masq', 'maybe'], /unexpected argument "maybe"/],
      [['--ip-masq=maybe'], /--ip-masq: "maybe" is not true or false/],
    ];
    for (const [argv, re] of bad) {
      expect(() => load(argv), argv.join(' ')).toThrow(AgentConfigError);
      expect(() => load(argv), argv.join(' ')).toThrow(re);
    }
  });
});

describe('etcd TLS and authentication', () => {
  const origin = { ca: '--etcd-cafile /etc/etcd/ca.crt', cert: '--etcd-certfile /etc/etcd/client.crt', key: '--etcd-keyfile /etc/etcd/client.key' };
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });

  it('TLS failures name the certificate problem and where the CA or certificate came from', () => {
    expect(describeTlsError(err('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), origin)).toBe("TLS: the server's certificate is not signed by the CA in --etcd-cafile /etc/etcd/ca.crt");
    expect(describeTlsError(err('SELF_SIGNED_CERT_IN_CHAIN'), {})).toBe("TLS: the server's certificate is not signed by the system's CAs (give the CA that signed it)");
    expect(describeTlsError(err('CERT_HAS_EXPIRED'), origin)).toBe("TLS: the server's certificate has expired");
    expect(describeTlsError(err('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: IP: 10.0.0.9 is not in the cert's list: 10.0.0.1"), origin)).toMatch(/does not name the host or address connected to: .*10\.0\.0\.9 is not in the cert's list/);
    expect(describeTlsError(err('ERR_OSSL_X509_KEY_VALUES_MISMATCH', 'key values mismatch'), origin)).toBe('TLS: the private key --etcd-keyfile /etc/etcd/client.key does not belong to the client certificate --etcd-certfile /etc/etcd/client.crt');
    expect(describeTlsError(err('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate'), { ca: origin.ca })).toBe('TLS: the server requires a client certificate and none is configured');
    expect(describeTlsError(err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), origin)).toBe('TLS: the server requires a client certificate and none is configured');
    expect(describeTlsError(err('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate'), origin)).toBe('TLS: the server rejected the client certificate --etcd-certfile /etc/etcd/client.crt (not signed by a CA the server trusts, or expired)');
    expect(describeTlsError(err('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'), origin)).toBe('TLS: the server does not speak TLS on that port (use http:// for it)');
    expect(describeTlsError(new TlsSetupError('cannot read --etcd-cafile /x: no such file'), origin)).toBe('cannot read --etcd-cafile /x: no such file');
    expect(describeTlsError(err('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:2379'), origin)).toBeUndefined();
  });

  it("etcd's authentication errors are explained; the token problems are the ones a new token fixes", () => {
    expect(explainAuthError('etcdserver: user name is empty', 'kv/range', undefined)).toMatch(/give --etcd-username and --etcd-password/);
    expect(explainAuthError('etcdserver: authentication failed, invalid user ID or password', 'auth/authenticate', 'cni')).toMatch(/etcd rejected --etcd-username "cni"/);
    expect(explainAuthError('etcdserver: permission denied', 'kv/txn', 'cni')).toMatch(/^etcdserver: permission denied \(etcd user "cni" may not kv\/txn: grant its role read and write/);
    expect(explainAuthError('CommonName of client sending a request against gateway will be ignored and not used as expected', 'kv/range', 'cni')).toMatch(/client certificate has a CommonName while its authentication is on/);
    expect(explainGateway(14, 'connection closed')).toMatch(/server certificate must also allow client authentication/);
    expect(explainGateway(14, 'etcdserver: request timed out')).toBeUndefined();
    expect(isTokenProblem(16, 'etcdserver: invalid auth token')).toBe(true);
    expect(isTokenProblem(3, 'etcdserver: user name is empty')).toBe(true);
    expect(isTokenProblem(5, 'etcdserver: requested lease not found')).toBe(false);
  });

  it('the token: authenticated once, sent as Authorization, replaced after invalidate(); "not enabled" means no token', async () => {
    const logs: string[] = [];
    const a = new EtcdAuth({ username: 'cni', password: 'pw' }, (m) => logs.push(m));
    let n = 0;
    const post = async (body: unknown) => {
      expect(body).toEqual({ name: 'cni', password: 'pw' });
      return { token: `tok${++n}` };
    };
    expect(await Promise.all([a.headers(post), a.headers(post)])).toEqual([{ authorization: 'tok1' }, { authorization: 'tok1' }]); // one authentication
    a.invalidate();
    expect(await a.headers(post)).toEqual({ authorization: 'tok2' });
    expect(logs).toEqual(['authenticated to etcd as user "cni"', 'etcd token of user "cni" refused (expired): authenticated again']);
    const off = new EtcdAuth({ username: 'cni', password: 'pw' }, (m) => logs.push(m));
    expect(await off.headers(async () => Promise.reject(new Error('etcdserver: authentication is not enabled')))).toEqual({});
    expect(logs.at(-1)).toMatch(/etcd has authentication disabled/);
    await expect(new EtcdAuth({ username: 'cni', password: 'x' }, () => undefined).headers(async () => Promise.reject(new Error('etcdserver: authentication failed, invalid user ID or password')))).rejects.toThrow(/invalid user ID or password/);
  });
});

describe('kubeconfig', () => {
  const pem = (kind: string) => Buffer.from(`-----BEGIN ${kind}-----\nMIIB\n-----END ${kind}-----\n`).toString('base64');
  const kind = `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: ${pem('CERTIFICATE')}
    server: https://127.0.0.1:40000
  name: kind-kind
- cluster:
    certificate-authority: pki/ca.crt
    server: https://10.0.0.1:6443
    tls-server-name: kubernetes
  name: prod
contexts:
- context:
    cluster: kind-kind
    user: kind-kind
  name: kind-kind
- context:
    cluster: prod
    user: admin
    namespace: kube-system
  name: prod
current-context: kind-kind
preferences: {}
users:
- name: kind-kind
  user:
    client-certificate-data: ${pem('CERTIFICATE')}
    client-key-data: ${pem('RSA PRIVATE KEY')}
- name: admin
  user:
    client-certificate: /etc/k/admin.crt
    client-key: admin.key
    token: abc
`;

  it('the current context: server, CA and client certificate from -data (as kind writes them)', () => {
    const k = resolveKubeconfig(parseKubeconfigText(kind, '/home/u/.kube/config'), '/home/u/.kube/config');
    expect(k).toMatchObject({ context: 'kind-kind', cluster: 'kind-kind', user: 'kind-kind', server: 'https://127.0.0.1:40000', files: {} });
    expect(k.inline.ca).toContain('BEGIN CERTIFICATE');
    expect(k.inline.key).toContain('BEGIN RSA PRIVATE KEY');
  });

  it('files relative to the kubeconfig, tls-server-name, token; --kube-api-server overrides the server', () => {
    const doc = parseKubeconfigText(kind.replace('current-context: kind-kind', 'current-context: prod'), '/etc/k/admin.conf');
    const k = resolveKubeconfig(doc, '/etc/k/admin.conf', 'https://lb:6443');
    expect(k).toMatchObject({ context: 'prod', server: 'https://lb:6443', files: { ca: '/etc/k/pki/ca.crt', cert: '/etc/k/admin.crt', key: '/etc/k/admin.key' }, inline: { servername: 'kubernetes' }, token: 'abc' });
    const access = kubeconfigAccess('/etc/k/admin.conf', '', () => kind.replace('current-context: kind-kind', 'current-context: prod'));
    expect(access.server).toBe('https://10.0.0.1:6443');
    expect(access.authorization()).toBe('Bearer abc');
    expect(access.source).toBe('kubeconfig /etc/k/admin.conf (context prod, user admin: token)');
  });

  it('what cannot work is refused in one line naming the file and the field', () => {
    const refuse = (text: string, re: RegExp) => {
      expect(() => kubeconfigAccess('/k', '', () => text)).toThrow(KubeconfigError);
      expect(() => kubeconfigAccess('/k', '', () => text)).toThrow(re);
    };
    refuse(kind.replace('current-context: kind-kind', ''), /has no current-context \(contexts: kind-kind, prod; set one/);
    refuse(kind.replace('current-context: kind-kind', 'current-context: gone'), /no context named "gone" in contexts \(has kind-kind, prod\)/);
    refuse(kind.replace(/    client-key-data: .*\n/, ''), /user "kind-kind" has a client certificate but no client-key/);
    refuse(kind.replace(/client-certificate-data: .*\n    client-key-data: .*\n/, 'exec:\n      command: aws\n      args: [eks, get-token]\n'), /authenticates with exec \(a credential plugin\), which cni-ts-agent does not run/);
    refuse(kind.replace(/certificate-authority-data: .*/, 'certificate-authority-data: bm90IGEgcGVt'), /certificate-authority-data \(base64 of PEM\) does not hold a PEM certificate/);
    refuse('clusters: [', /is not valid YAML/);
    refuse('- just a list', /does not hold a kubeconfig/);
    expect(() => kubeconfigAccess('/nope', '', () => Object.assign(new Error('x'), { code: 'ENOENT' }) as never)).toThrow();
  });
});

describe('masquerade options, subnet.env, metrics', () => {
  it('extra no-NAT destinations per family, fully random ports', () => {
    const s = masqScript(['10.244.0.0/16', 'fd00::/56'], { noMasq: ['192.168.0.0/16', '10.96.0.0/12', 'fd10::/64'], fullyRandom: true });
    expect(s).toContain('ip saddr 10.244.0.0/16 ip daddr { 192.168.0.0/16, 10.96.0.0/12 } return comment "--no-masquerade-cidr: no NAT"');
    expect(s).toContain('ip6 saddr fd00::/56 ip6 daddr { fd10::/64 } return');
    expect(s).toContain('ip saddr 10.244.0.0/16 masquerade fully-random comment');
    expect(masqScript(['10.244.0.0/16'])).not.toMatch(/fully-random|no-masquerade/);
  });

  it('subnet.env in flannel\'s format: the subnet as its first address, IPv6 keys for dual-stack', () => {
    expect(renderSubnetEnv({ clusterCIDRs: ['10.244.0.0/16'], subnets: ['10.244.3.0/24'], mtu: 1450, ipMasq: true })).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
    expect(renderSubnetEnv({ clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], subnets: ['10.244.3.0/24', 'fd00:10:244:3::/64'], mtu: 1430, ipMasq: false })).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n',
    );
  });

  it('/metrics: Prometheus text with HELP and TYPE, counters, gauges and the info labels', () => {
    const m = new Metrics({ node: 'n"1', backend: 'vxlan', store: 'etcd', version: '0.1.0' });
    m.reconciles = 3;
    m.reconcileErrors = 1;
    m.changes = 9;
    m.peers = 2;
    m.lastReconcile = 1700000000.5;
    m.setStoreConnected(true);
    m.setStoreConnected(false);
    const t = renderMetrics(m, { cpuSeconds: 1.25, residentBytes: 50_000_000, startTimeSeconds: 1699999999 });
    expect(t).toContain('# TYPE cni_ts_agent_reconciles_total counter\ncni_ts_agent_reconciles_total 3\n');
    expect(t).toContain('cni_ts_agent_reconcile_errors_total 1\n');
    expect(t).toContain('cni_ts_agent_datapath_changes_total 9\n');
    expect(t).toContain('# TYPE cni_ts_agent_peers gauge\ncni_ts_agent_peers 2\n');
    expect(t).toContain('cni_ts_agent_last_reconcile_timestamp_seconds 1700000000.500000\n');
    expect(t).toContain('cni_ts_agent_store_connected 0\n');
    expect(t).toContain('cni_ts_agent_store_disconnects_total 1\n');
    expect(t).toContain('cni_ts_agent_info{node="n\\"1",backend="vxlan",store="etcd",version="0.1.0"} 1\n');
    expect(t).toContain('process_resident_memory_bytes 50000000\n');
    for (const line of t.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{.*\})? -?[\d.]+)$/);
  });
});

describe('the changes of a reconcile are sent in-process (lib/rtnetlink takes every line over)', () => {
  const o = { backend: 'vxlan' as const, device: 'cni-ts.1', underlay: { iface: 'eth0', publicIPs: ['192.168.0.1'], mtu: 1500 }, clusterCIDRs: ['10.128.0.0/12', 'fd00:128::/48'], self: 'me' };
  const peer: NodeRecord = { node: 'p', publicIPs: ['192.168.0.2'], subnets: ['10.128.3.0/24', 'fd00:128:0:3::/64'], backend: 'vxlan', vtepMAC: '02:aa:bb:cc:dd:ee' };
  const request = (tool: 'ip' | 'bridge', line: string): Request => {
    const p = (tool === 'ip' ? parseIp : parseBridge)(line.split(' '));
    expect(p, `${tool} ${line}: taken over`).toBeDefined();
    return p!.commands[0]!.command as Request;
  };

  it('adding a peer: FDB append, permanent neighbours, onlink routes with protocol 177 (v4 and v6)', () => {
    const ch = diffState(wantedState({ ...o, peers: [peer] }), { routes: [], neighs: [], fdb: [] }, { clusterCIDRs: o.clusterCIDRs, device: o.device });
    expect(ch.bridge.map((l) => request('bridge', l)).map((r) => [r.type, r.flags])).toEqual([[28, 0x400 | 0x800]]); // RTM_NEWNEIGH CREATE|APPEND
    const ip = ch.ip.map((l) => request('ip', l));
    expect(ip.map((r) => r.type).sort()).toEqual([24, 24, 28, 28]); // RTM_NEWROUTE ×2, RTM_NEWNEIGH ×2
    for (const r of ip.filter((x) => x.type === 24)) {
      expect(r.header[5]).toBe(177); // rtm_protocol
      expect(new DataView(r.header.buffer).getUint32(8, true) & 4).toBe(4); // RTNH_F_ONLINK
    }
  });

  it('removing a peer: route del, neigh del, fdb del', () => {
    const want = wantedState({ ...o, peers: [peer] });
    const cur = { routes: want.routes.map((r) => ({ dst: r.dst, gateway: r.via, dev: r.dev, flags: ['onlink'] })), neighs: want.neighs.map((n) => ({ ...n, state: ['PERMANENT'] })), fdb: want.fdb.map((f) => ({ ...f, flags: ['self'] })) };
    const ch = diffState(wantedState({ ...o, peers: [] }), cur, { clusterCIDRs: o.clusterCIDRs, device: o.device });
    expect([...ch.bridge.map((l) => request('bridge', l).type), ...ch.ip.map((l) => request('ip', l).type)].sort()).toEqual([25, 25, 29, 29, 29]);
  });
});

describe('data path plan at scale', () => {
  const peers = (n: number): NodeRecord[] =>
    Array.from({ length: n }, (_, i) => ({ node: `p${i}`, publicIPs: [`172.16.${i >> 8}.${i & 255}`], subnets: [`10.${128 + (i >> 8)}.${i & 255}.0/24`], backend: 'vxlan' as const, vtepMAC: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` }));
  const o = { backend: 'vxlan' as const, device: 'cni-ts.1', underlay: { iface: 'eth0', publicIPs: ['192.168.0.1'], mtu: 1500 }, clusterCIDRs: ['10.128.0.0/12'], self: 'me' };

  it('3000 peers: converged means no change; one peer gone means exactly its three entries go', () => {
    const want = wantedState({ ...o, peers: peers(3000) });
    const cur = { routes: want.routes.map((r) => ({ dst: r.dst, gateway: r.via, dev: r.dev, flags: ['onlink'] })), neighs: want.neighs.map((n) => ({ ...n, state: ['PERMANENT'] })), fdb: want.fdb.map((f) => ({ ...f, flags: ['self'] })) };
    expect(diffState(want, cur, { clusterCIDRs: o.clusterCIDRs, device: o.device }).described).toEqual([]);
    const less = wantedState({ ...o, peers: peers(3000).filter((p) => p.node !== 'p1234') });
    const ch = diffState(less, cur, { clusterCIDRs: o.clusterCIDRs, device: o.device });
    expect(ch.ip).toEqual(['route del 10.132.210.0/24 via 10.132.210.0 dev cni-ts.1 proto 177', 'neigh del 10.132.210.0 dev cni-ts.1']);
    expect(ch.bridge).toEqual(['fdb del 02:00:00:00:04:d2 dev cni-ts.1 dst 172.16.4.210 self']);
    expect(ch.ipOps).toEqual([
      { kind: 'route', verb: 'del', dst: '10.132.210.0/24', via: '10.132.210.0', dev: 'cni-ts.1' },
      { kind: 'neigh', verb: 'del', dst: '10.132.210.0', dev: 'cni-ts.1' },
    ]);
  });
});
