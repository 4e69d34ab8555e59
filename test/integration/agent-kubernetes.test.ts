/**
 * cni-ts-agent --store kubernetes against a STAND-IN API server (test/helpers/kube-apiserver-standin.mjs: HTTPS,
 * bearer token, Node list/get/watch/merge-patch with the recorded shapes, 410 Gone after a compaction). No real API
 * server runs here; what is proven is the agent's side of the documented protocol plus the real data path between
 * node namespaces: subnets from spec.podCIDRs, VTEP MAC published as an annotation, peers from Nodes, resync after
 * 410, --cleanup removing the annotations, and --kubeconfig-file with client-certificate authentication.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, UNDERLAY_GW, waitFor, type Node } from '../helpers/cluster.js';
import { ROOT, isRoot, ping, pluginEnv, shOk } from '../helpers/harness.js';
import { haveOpenssl, issue, makeCA } from '../helpers/pki.js';

let cluster: Cluster | undefined;
let api: ChildProcess | undefined;
afterEach(async () => {
  api?.kill('SIGKILL');
  api = undefined;
  await cluster?.cleanup();
  cluster = undefined;
});

interface StandIn {
  url: string;
  ca: string;
  tokenFile: string;
  out: () => string;
  cmd: (o: object) => void;
  dump: () => Promise<Record<string, any>>;
}

async function startStandIn(c: Cluster, o: { clientCA?: string; extra?: string[] } = {}): Promise<StandIn> {
  const dir = c.net.tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  shOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=kube-apiserver-standin', '-addext', `subjectAltName=IP:${UNDERLAY_GW}`]);
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'standin-token-123\n');
  const p = spawn('ip', ['netns', 'exec', c.underlay, process.execPath, join(ROOT, 'test/helpers/kube-apiserver-standin.mjs'), '--host', UNDERLAY_GW, '--port', '6443', '--cert', cert, '--key', key, '--token-file', tokenFile, ...(o.clientCA ? ['--client-ca', o.clientCA] : []), ...(o.extra ?? [])], { stdio: ['pipe', 'pipe', 'pipe'], env: pluginEnv({}) });
  api = p;
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  await waitFor(`stand-in to listen (${out})`, () => out.includes('"listening"'));
  let dumps = 0;
  return {
    url: `https://${UNDERLAY_GW}:6443`,
    ca: cert,
    tokenFile,
    out: () => out,
    cmd: (o) => p.stdin!.write(JSON.stringify(o) + '\n'),
    dump: async () => {
      const n = ++dumps;
      p.stdin!.write('{"op":"dump"}\n');
      const lines = await waitFor('dump', () => {
        const l = out.split('\n').filter((x) => x.startsWith('{"dump"'));
        return l.length >= n ? l : undefined;
      });
      return JSON.parse(lines[n - 1]!).dump;
    },
  };
}

const CIDR = '10.244.0.0/16';

describe.skipIf(!isRoot || !haveOpenssl)('cni-ts-agent with the Kubernetes store (stand-in API server)', () => {
  it('subnets from spec.podCIDRs, VTEP MAC annotated, peers from Nodes, 410 Gone resync, --cleanup drops the annotations', async () => {
    const c = new Cluster('agk');
    cluster = c;
    const [n1, n2] = [c.addNode(), c.addNode()] as [Node, Node];
    const k = await startStandIn(c);
    k.cmd({ op: 'addNode', name: n1.name, podCIDRs: ['10.244.1.0/24'], internalIP: n1.ip });
    k.cmd({ op: 'addNode', name: n2.name, podCIDRs: ['10.244.2.0/24'], internalIP: n2.ip });
    // A third Node without an agent here, published as a vxlan peer would be.
    k.cmd({ op: 'addNode', name: 'node-9', podCIDRs: ['10.244.9.0/24'], internalIP: '192.168.77.99', annotations: { 'cni-ts.io/backend-type': 'vxlan', 'cni-ts.io/backend-data': '{"VtepMAC":"02:00:00:00:00:99"}', 'cni-ts.io/public-ip': '192.168.77.99' } });
    const kubeArgs = (n: Node, extra: string[] = []) => c.agentArgs(n, ['--store', 'kubernetes', '--kube-api-server', k.url, '--kube-ca-file', k.ca, '--kube-token-file', k.tokenFile, '--cluster-cidr', CIDR, ...extra]);
    for (const n of [n1, n2]) expect((await c.runAgent(n, ['--install-cni', join(ROOT, 'dist/bin'), '--cni-bin-dir', n.binDir])).status).toBe(0);
    const [a1, a2] = [c.startAgent(n1, kubeArgs(n1)), c.startAgent(n2, kubeArgs(n2))];
    await Promise.all([a1, a2].map((a) => a.waitLog(/wrote .*conflist/)));
    expect(c.subnetsOf(n1)).toEqual(['10.244.1.0/24']);
    expect(c.subnetsOf(n2)).toEqual(['10.244.2.0/24']);

    // The VTEP MAC and underlay address are published on the Node (merge patch), and match the device.
    const nodes = await k.dump();
    const mac = c.ipJson(n1.netns, ['link', 'show', 'dev', 'cni-ts.1'])[0].address;
    expect(nodes[n1.name].metadata.annotations).toMatchObject({ 'cni-ts.io/backend-type': 'vxlan', 'cni-ts.io/public-ip': n1.ip, 'cni-ts.io/backend-data': JSON.stringify({ VtepMAC: mac }) });
    // Annotations through the status subresource (the stand-in refuses PATCH on nodes, as the ClusterRole does).
    expect(k.out()).toMatch(/"req":"PATCH \/api\/v1\/nodes\/node-1\/status","auth":true/);
    expect(k.out()).not.toMatch(/"req":"PATCH \/api\/v1\/nodes\/node-1","auth/);
    // LIST from the API server's cache (resourceVersion=0), paginated.
    expect(k.out()).toMatch(/"req":"GET \/api\/v1\/nodes\?limit=500&resourceVersion=0","auth":true/);
    await waitFor('the Node watch', () => /"req":"GET \/api\/v1\/nodes\?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=\d+","auth":true/.test(k.out()));
    expect(k.out()).not.toContain('"auth":false');

    // Peers from Node objects: node-2 and node-9 on node-1.
    await waitFor('node-1 to route to node-2 and node-9', () => c.agentRoutes(n1.netns).map((r) => r.dst).sort().join() === '10.244.2.0/24,10.244.9.0/24');
    expect(c.fdb(n1.netns).map((f) => `${f.mac} ${f.dst}`).sort()).toContain(`02:00:00:00:00:99 192.168.77.99`);
    const p1 = c.addPod(n1, 'p1');
    const p2 = c.addPod(n2, 'p2');
    expect(ping(p1.netns, p2.ip, 2)).toBe(true);

    // A Node deleted while the watches are down, and the history compacted: the watch resumes with a too-old
    // resourceVersion, gets 410 Gone, lists again and drops node-9.
    k.cmd({ ops: [{ op: 'dropWatches' }, { op: 'deleteNode', name: 'node-9' }, { op: 'compact' }] });
    await a1.waitLog(/resourceVersion \d+ is too old \(410 Gone\): listing Nodes again/);
    await waitFor('node-1 to drop node-9 after the 410 resync', () => c.agentRoutes(n1.netns).map((r) => r.dst).join() === '10.244.2.0/24');
    expect(c.fdb(n1.netns).map((f) => f.dst)).toEqual([n2.ip]);
    // And a Node added afterwards arrives through the new watch.
    k.cmd({ op: 'addNode', name: 'node-8', podCIDRs: ['10.244.8.0/24'], internalIP: '192.168.77.98', annotations: { 'cni-ts.io/backend-data': '{"VtepMAC":"02:00:00:00:00:98"}' } });
    await waitFor('node-1 to learn node-8', () => c.agentRoutes(n1.netns).some((r) => r.dst === '10.244.8.0/24'));
    expect(ping(p2.netns, p1.ip)).toBe(true);

    expect(a1.exitCode, a1.log).toBeUndefined(); // still running

    // --cleanup: annotations gone from the Node, data path and conflist gone from the node.
    expect(await a2.stop()).toBe(0);
    const cl = await c.runAgent(n2, kubeArgs(n2, ['--cleanup']));
    expect(cl.status, cl.log).toBe(0);
    const after = await k.dump();
    expect(Object.keys(after[n2.name].metadata.annotations).filter((a) => a.startsWith('cni-ts.io/'))).toEqual([]);
    expect(c.agentRoutes(n2.netns)).toEqual([]);
    // node-2's Node object still exists with its podCIDR (it is the controller manager's): node-1 keeps a route to it
    // but, with the VTEP MAC gone, no FDB entry.
    await waitFor('node-1 to drop node-2\'s FDB entry', () => !c.fdb(n1.netns).some((f) => f.dst === n2.ip));
  });

  it('a Node without spec.podCIDR yet: the agent waits and says why; a wrong token is a clear error', async () => {
    const c = new Cluster('agk');
    cluster = c;
    const n1 = c.addNode();
    const k = await startStandIn(c);
    const wrongToken = join(c.net.tempDir(), 'token');
    writeFileSync(wrongToken, 'nope');
    const bad = c.startAgent(n1, c.agentArgs(n1, ['--store', 'kubernetes', '--kube-api-server', k.url, '--kube-ca-file', k.ca, '--kube-token-file', wrongToken, '--cluster-cidr', CIDR]));
    await bad.waitLog(/cannot read Node node-1: HTTP 401 .*Unauthorized.*retrying/);
    await bad.stop();
    const a = c.startAgent(n1, c.agentArgs(n1, ['--store', 'kubernetes', '--kube-api-server', k.url, '--kube-ca-file', k.ca, '--kube-token-file', k.tokenFile, '--cluster-cidr', CIDR]));
    await a.waitLog(/cannot read Node node-1: HTTP 404/);
    k.cmd({ op: 'addNode', name: n1.name, podCIDRs: [], internalIP: n1.ip });
    await a.waitLog(/has no spec\.podCIDR yet/);
    await a.stop();
    // A podCIDR outside --cluster-cidr is a fatal misconfiguration.
    k.cmd({ op: 'deleteNode', name: n1.name });
    k.cmd({ op: 'addNode', name: n1.name, podCIDRs: ['10.99.0.0/24'], internalIP: n1.ip });
    const r = await c.runAgent(n1, c.agentArgs(n1, ['--store', 'kubernetes', '--kube-api-server', k.url, '--kube-ca-file', k.ca, '--kube-token-file', k.tokenFile, '--cluster-cidr', CIDR]));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/spec\.podCIDRs 10\.99\.0\.0\/24, which is not inside --cluster-cidr 10\.244\.0\.0\/16/);
  });

  it('--kubeconfig-file, as outside the cluster: server, CA and client certificate of the current context (inline -data or files); an untrusted certificate or a credential plugin is a clear error', async () => {
    const c = new Cluster('agk');
    cluster = c;
    const [n1, n2] = [c.addNode(), c.addNode()] as [Node, Node];
    const pki = c.net.tempDir();
    const clientCA = makeCA(pki, 'kube-client-ca');
    const rogueCA = makeCA(pki, 'rogue-ca');
    const k = await startStandIn(c, { clientCA: clientCA.cert });
    const cert1 = issue(pki, clientCA, 'node-1', { cn: 'system:node:node-1', client: true });
    const cert2 = issue(pki, clientCA, 'node-2', { cn: 'system:node:node-2', client: true });
    const rogue = issue(pki, rogueCA, 'rogue', { cn: 'system:node:node-1', client: true });
    const data = (f: string) => readFileSync(f).toString('base64');
    const kubeconfig = (name: string, cluster: string, user: string, context = 'default') => {
      const path = join(pki, `${name}.kubeconfig`);
      writeFileSync(path, `apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n${cluster}contexts:\n- name: other\n  context: {cluster: standin, user: nobody}\n- name: ${context}\n  context:\n    cluster: standin\n    user: agent\ncurrent-context: ${context}\nusers:\n- name: nobody\n  user: {}\n- name: agent\n  user:\n${user}`);
      return path;
    };
    // node-1: everything inline, as kind and kubeadm write it; node-2: files, the CA by a path relative to the kubeconfig.
    copyFileSync(k.ca, join(pki, 'standin-ca.crt'));
    const kc1 = kubeconfig('node-1', `    server: ${k.url}\n    certificate-authority-data: ${data(k.ca)}\n`, `    client-certificate-data: ${data(cert1.cert)}\n    client-key-data: ${data(cert1.key)}\n`);
    const kc2 = kubeconfig('node-2', `    server: ${k.url}\n    certificate-authority: standin-ca.crt\n`, `    client-certificate: ${cert2.cert}\n    client-key: ${cert2.key}\n`, 'node-2@standin');
    k.cmd({ op: 'addNode', name: n1.name, podCIDRs: ['10.244.1.0/24'], internalIP: n1.ip });
    k.cmd({ op: 'addNode', name: n2.name, podCIDRs: ['10.244.2.0/24'], internalIP: n2.ip });
    for (const n of [n1, n2]) expect((await c.runAgent(n, ['--install-cni', join(ROOT, 'dist/bin'), '--cni-bin-dir', n.binDir])).status).toBe(0);
    const kubeArgs = (n: Node, kc: string) => c.agentArgs(n, ['--store', 'kubernetes', '--kubeconfig-file', kc, '--cluster-cidr', CIDR]);

    // A client certificate the API server does not trust: 401, said clearly, retried.
    const bad = c.startAgent(n1, kubeArgs(n1, kubeconfig('rogue', `    server: ${k.url}\n    certificate-authority-data: ${data(k.ca)}\n`, `    client-certificate-data: ${data(rogue.cert)}\n    client-key-data: ${data(rogue.key)}\n`)));
    await bad.waitLog(/cannot read Node node-1: HTTP 401 from https:\/\/192\.168\.77\.1:6443\/api\/v1\/nodes\/node-1: .*Unauthorized.*; retrying/);
    expect(await bad.stop()).toBe(0);

    const [a1, a2] = [c.startAgent(n1, kubeArgs(n1, kc1)), c.startAgent(n2, kubeArgs(n2, kc2))];
    await Promise.all([a1, a2].map((a) => a.waitLog(/wrote .*conflist/)));
    expect(a1.log).toContain(`store: kubernetes ${k.url} (kubeconfig ${kc1} (context default, user agent: client certificate))`);
    expect(a2.log).toContain(`(kubeconfig ${kc2} (context node-2@standin, user agent: client certificate))`);
    expect(c.subnetsOf(n1)).toEqual(['10.244.1.0/24']);
    expect(c.subnetsOf(n2)).toEqual(['10.244.2.0/24']);
    // Every request of theirs was authenticated by its certificate (no token was given).
    const reqs = () => k.out().split('\n').filter((l) => l.startsWith('{"req"')).map((l) => JSON.parse(l));
    await waitFor('node-2 to watch Nodes', () => reqs().some((r) => r.user === 'x509:system:node:node-2' && r.req.startsWith('GET /api/v1/nodes?watch=1')));
    expect(reqs().filter((r) => r.user === 'x509:system:node:node-1').map((r) => r.req)).toEqual(expect.arrayContaining(['GET /api/v1/nodes/node-1', 'PATCH /api/v1/nodes/node-1/status']));
    expect(reqs().filter((r) => r.user === 'token')).toEqual([]);
    await waitFor('the nodes to route to each other', () => c.agentRoutes(n1.netns).some((r) => r.dst === '10.244.2.0/24') && c.agentRoutes(n2.netns).some((r) => r.dst === '10.244.1.0/24'));
    const p1 = c.addPod(n1, 'p1');
    const p2 = c.addPod(n2, 'p2');
    expect(ping(p1.netns, p2.ip, 2)).toBe(true);

    // A kubeconfig whose user only has a credential plugin cannot be used: one line, exit 1, nothing changed.
    const execKc = kubeconfig('exec', `    server: ${k.url}\n`, `    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n      args: [eks, get-token]\n`);
    const r = await c.runAgent(n1, kubeArgs(n1, execKc));
    expect(r.status).toBe(1);
    expect(r.log).toContain(`fatal: kubeconfig ${execKc} user "agent" authenticates with exec (a credential plugin), which cni-ts-agent does not run: give that user a token, tokenFile or client certificate`);
    expect([a1.exitCode, a2.exitCode]).toEqual([undefined, undefined]);
  });

  it('multi-homed node: the underlay is the Node\'s InternalIP (from the API or the downward API), not the default route; paginated LIST; heartbeats cause no reconcile; public-ip-overwrite; duplicate addresses warned; a silent watch is listed again', async () => {
    const c = new Cluster('agk');
    cluster = c;
    const [n1, n2] = [c.addNode(), c.addNode()] as [Node, Node];
    // node-1 has a second uplink, and its default route goes there: the default route would pick the wrong address.
    const side = c.net.addNetns('side');
    shOk('ip', ['-n', n1.netns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'up0', 'netns', side]);
    shOk('ip', ['-n', n1.netns, '-batch', '-'], 'addr add 10.77.0.2/24 dev eth1\nlink set eth1 up\nroute replace default via 10.77.0.1 dev eth1\n');
    shOk('ip', ['-n', side, '-batch', '-'], 'addr add 10.77.0.1/24 dev up0\nlink set up0 up\n');
    const k = await startStandIn(c, { extra: ['--page-size', '2', '--bookmark-ms', '500'] });
    k.cmd({ op: 'addNode', name: n1.name, podCIDRs: ['10.244.1.0/24'], internalIP: n1.ip });
    k.cmd({ op: 'addNode', name: n2.name, podCIDRs: ['10.244.2.0/24'], internalIP: n2.ip });
    k.cmd({ op: 'addNode', name: 'node-9', podCIDRs: ['10.244.9.0/24'], internalIP: '192.168.77.99', annotations: { 'cni-ts.io/backend-data': '{"VtepMAC":"02:00:00:00:00:99"}', 'cni-ts.io/public-ip': '192.168.77.99' } });
    const kubeArgs = (n: Node, extra: string[] = []) => c.agentArgs(n, ['--store', 'kubernetes', '--kube-api-server', k.url, '--kube-ca-file', k.ca, '--kube-token-file', k.tokenFile, '--cluster-cidr', CIDR, '--resync-interval', '300', '--watch-idle-timeout', '3', ...extra]);
    for (const n of [n1, n2]) expect((await c.runAgent(n, ['--install-cni', join(ROOT, 'dist/bin'), '--cni-bin-dir', n.binDir])).status).toBe(0);
    const a1 = c.startAgent(n1, kubeArgs(n1));
    // node-2 gets its address as the DaemonSet passes it (downward API status.hostIPs → CNI_TS_AGENT_NODE_IPS).
    const a2 = c.startAgent(n2, kubeArgs(n2), { CNI_TS_AGENT_NODE_IPS: n2.ip });
    await Promise.all([a1, a2].map((a) => a.waitLog(/wrote .*conflist/)));
    expect(a1.log).toContain(`the Node's InternalIP: ${n1.ip}`);
    expect(a1.log).toMatch(new RegExp(`underlay eth0 ${n1.ip.replace(/\./g, '\\.')} \\(MTU 1500\\)`));
    expect(a2.log).not.toContain("the Node's InternalIP");
    expect(c.ipJson(n1.netns, ['-d', 'link', 'show', 'dev', 'cni-ts.1'])[0].linkinfo.info_data).toMatchObject({ local: n1.ip, link: 'eth0' });
    expect((await k.dump())[n1.name].metadata.annotations['cni-ts.io/public-ip']).toBe(n1.ip);
    // The LIST is paginated (2 Nodes a page here) and starts from the cache.
    expect(a1.log).toMatch(/listed 3 Nodes at resourceVersion \d+ \(2 pages\)/);
    expect(k.out()).toMatch(/"req":"GET \/api\/v1\/nodes\?limit=500&continue=[^"]+","auth":true/);
    await waitFor('node-1 to route to node-2 and node-9', () => c.agentRoutes(n1.netns).length === 2);
    const p1 = c.addPod(n1, 'p1');
    const p2 = c.addPod(n2, 'p2');
    expect(ping(p1.netns, p2.ip, 2)).toBe(true);

    // Status heartbeats (what the kubelet writes all the time) change nothing we use: no reconcile.
    const last = (): string => JSON.parse(readFileSync(join(n1.runDir, 'status.json'), 'utf8')).lastReconcile;
    const before = last();
    for (let i = 0; i < 5; i++) k.cmd({ ops: [{ op: 'heartbeat', name: n2.name }, { op: 'heartbeat', name: 'node-9' }] });
    await new Promise((r) => setTimeout(r, 1500));
    expect(last()).toBe(before);
    // A used field does: node-9's VTEP MAC.
    k.cmd({ op: 'annotate', name: 'node-9', annotations: { 'cni-ts.io/backend-data': '{"VtepMAC":"02:00:00:00:00:98"}' } });
    await waitFor('node-1 to follow node-9\'s new MAC', () => c.fdb(n1.netns).some((f) => f.mac === '02:00:00:00:00:98'));
    await waitFor('a reconcile for that change', () => last() !== before);

    // The admin's public-ip-overwrite on node-2: published instead of its own address, and peers use it.
    k.cmd({ op: 'annotate', name: n2.name, annotations: { 'cni-ts.io/public-ip-overwrite': '192.168.77.112' } });
    await waitFor('node-2 to publish the overwrite', async () => (await k.dump())[n2.name].metadata.annotations['cni-ts.io/public-ip'] === '192.168.77.112');
    await waitFor('node-1 to send node-2\'s traffic to the overwrite', () => c.fdb(n1.netns).some((f) => f.dst === '192.168.77.112'));
    k.cmd({ op: 'annotate', name: n2.name, annotations: { 'cni-ts.io/public-ip-overwrite': null } });
    await waitFor('node-1 to go back to node-2\'s own address', () => c.fdb(n1.netns).some((f) => f.dst === n2.ip));
    // Two nodes publishing one address: warned.
    k.cmd({ op: 'annotate', name: 'node-9', annotations: { 'cni-ts.io/public-ip': n2.ip } });
    await a1.waitLog(/warning: nodes node-2 and node-9 all publish the underlay address 192\.168\.77\.12/);

    // Bookmarks every 0.5 s keep a 3 s idle timeout quiet; a watch gone silent is listed again.
    expect(a1.log).not.toMatch(/taken for dead/);
    k.cmd({ op: 'freezeWatches' });
    k.cmd({ op: 'addNode', name: 'node-8', podCIDRs: ['10.244.8.0/24'], internalIP: '192.168.77.98', annotations: { 'cni-ts.io/backend-data': '{"VtepMAC":"02:00:00:00:00:88"}' } });
    await a1.waitLog(/no event or bookmark from the Node watch for \d+s: the watch is taken for dead; listing Nodes again/);
    await waitFor('node-1 to learn node-8 after listing again', () => c.agentRoutes(n1.netns).some((r) => r.dst === '10.244.8.0/24'));
    expect(ping(p2.netns, p1.ip)).toBe(true);
    expect([a1.exitCode, a2.exitCode]).toEqual([undefined, undefined]);
  });
});
