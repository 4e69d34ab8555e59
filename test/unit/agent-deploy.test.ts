/**
 * deploy/kubernetes/cni-ts.yaml and deploy/kind/kind-config.yaml, checked without a cluster: they parse as YAML, and
 * the DaemonSet agrees with the agent (every flag it passes exists and the settings load without error, the paths it
 * writes are mounted from the host paths kubelet uses, the RBAC allows what the Kubernetes store calls), with the
 * image that scripts/image.sh builds and with the kind config's pod subnet.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { FLAGS, envName, loadConfig } from '../../agent/config.js';
import { INSTALLED_PLUGINS } from '../../agent/install.js';
import { ROOT } from '../helpers/harness.js';

const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes/cni-ts.yaml'), 'utf8'));
const objects = docs.map((d) => {
  expect(d.errors).toEqual([]);
  return d.toJS();
}).filter(Boolean) as any[];
const byKind = (kind: string): any[] => objects.filter((o) => o.kind === kind);
const ds = byKind('DaemonSet')[0];
const pod = ds.spec.template.spec;
const init = pod.initContainers.find((c: any) => c.name === 'install-cni');
const agent = pod.containers.find((c: any) => c.name === 'agent');
const configMap = byKind('ConfigMap')[0];

/** The host path behind a container path (through the container's volumeMounts and the pod's hostPath volumes). */
function hostPathOf(container: any, path: string): string | undefined {
  const m = container.volumeMounts.find((v: any) => path === v.mountPath || path.startsWith(`${v.mountPath}/`));
  if (!m) return undefined;
  const vol = pod.volumes.find((v: any) => v.name === m.name);
  return vol?.hostPath ? vol.hostPath.path + path.slice(m.mountPath.length) : undefined;
}

/** argv as the agent gets it, and its environment with ConfigMap/downward-API values resolved as kubelet would. */
function agentInput(c: any): { argv: string[]; env: NodeJS.ProcessEnv } {
  const env: NodeJS.ProcessEnv = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = configMap.data[e.valueFrom.configMapKeyRef.key];
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = 'kind-worker';
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.hostIPs') env[e.name] = '172.18.0.3,fc00:f853:ccd:e793::3';
  }
  return { argv: c.args, env };
}

describe('deploy manifests', () => {
  it('parse, and hold the namespace, service account, RBAC, config and DaemonSet', () => {
    expect(objects.map((o) => o.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet']);
    const ns = byKind('Namespace')[0].metadata.name;
    for (const o of objects.filter((x) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(x.kind))) expect(o.metadata.namespace).toBe(ns);
    const rules = byKind('ClusterRole')[0].rules;
    // What agent/store/kubernetes.ts calls: GET node, LIST + WATCH nodes, PATCH nodes/status (annotations only; the
    // stand-in API server refuses a PATCH on nodes the same way).
    expect(rules).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
    const binding = byKind('ClusterRoleBinding')[0];
    expect(binding.roleRef.name).toBe(byKind('ClusterRole')[0].metadata.name);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: byKind('ServiceAccount')[0].metadata.name, namespace: ns }]);
    expect(pod.serviceAccountName).toBe(byKind('ServiceAccount')[0].metadata.name);
  });

  it('the DaemonSet runs on every node with the host network and the capabilities the data path needs', () => {
    expect(ds.spec.selector.matchLabels).toEqual(ds.spec.template.metadata.labels);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.tolerations).toEqual(expect.arrayContaining([{ operator: 'Exists', effect: 'NoSchedule' }, { operator: 'Exists', effect: 'NoExecute' }]));
    expect(agent.securityContext.capabilities.add).toEqual(expect.arrayContaining(['NET_ADMIN', 'NET_RAW']));
    expect(hostPathOf(agent, '/run/xtables.lock')).toBe('/run/xtables.lock');
  });

  it('every flag the DaemonSet passes exists, and the agent accepts the whole configuration', () => {
    for (const c of [init, agent]) {
      expect(c.command).toEqual(['/usr/local/bin/cni-ts-agent']);
      for (const a of c.args.filter((x: string) => x.startsWith('--'))) {
        const name = a.slice(2).split('=')[0];
        expect(FLAGS.map((f) => f.name), a).toContain(name);
      }
      for (const e of c.env ?? []) {
        if (e.name.startsWith('CNI_TS_AGENT_')) expect(FLAGS.map((f) => envName(f.name)), e.name).toContain(e.name);
      }
    }
    const a = agentInput(agent);
    const cfg = loadConfig(a.argv, a.env, () => 'unused');
    expect(cfg).toMatchObject({ mode: 'daemon', store: 'kubernetes', nodeName: 'kind-worker', clusterCIDRs: ['10.244.0.0/16'], backend: 'vxlan', nodeIPs: ['172.18.0.3', 'fc00:f853:ccd:e793::3'] });
    const i = agentInput(init);
    const icfg = loadConfig(i.argv, i.env, () => 'unused');
    expect(icfg.mode).toBe('install-cni');
    // The init container writes the plugins where kubelet's runtime looks (/opt/cni/bin on the host)…
    expect(hostPathOf(init, icfg.cniBinDir)).toBe('/opt/cni/bin');
    // …the agent writes its conflist where the runtime reads (/etc/cni/net.d) and keeps its state on the host.
    expect(hostPathOf(agent, cfg.confDir)).toBe('/etc/cni/net.d');
    expect(hostPathOf(agent, cfg.cniBinDir)).toBe('/opt/cni/bin');
    expect(hostPathOf(agent, cfg.stateDir)).toBe('/var/lib/cni-ts-agent'); // survives a reboot
    // The conflist in /etc/cni/net.d links into the run dir: the same path in the container and on the host.
    expect(hostPathOf(agent, cfg.runDir)).toBe(cfg.runDir);
    expect(cfg.runDir).toBe('/run/cni-ts-agent');
    // host-local's reservations (default dataDir), read to know when an old subnet's pods are gone.
    expect(hostPathOf(agent, '/var/lib/cni/networks/cni-ts')).toBe('/var/lib/cni/networks/cni-ts');
    expect(agent.readinessProbe.httpGet).toMatchObject({ host: '127.0.0.1', port: agent.livenessProbe.httpGet.port, path: '/readyz' });
    // The liveness probe asks the agent's /healthz where it serves it.
    expect(`${agent.livenessProbe.httpGet.host}:${agent.livenessProbe.httpGet.port}`).toBe(cfg.healthzAddr);
    expect(agent.livenessProbe.httpGet.path).toBe('/healthz');
  });

  it('the image is the one scripts/image.sh builds, with the plugins where the init container copies them from', () => {
    const script = readFileSync(join(ROOT, 'scripts/image.sh'), 'utf8');
    const tag = /tag="\$\{1:-([^}]+)\}"/.exec(script)![1];
    for (const c of [init, agent]) expect(c.image).toBe(tag);
    expect(init.args).toEqual(['--install-cni', '/opt/cni-ts/bin', '--cni-bin-dir', '/host/opt/cni/bin']);
    expect(script).toContain('for p in ' + INSTALLED_PLUGINS.join(' ') + ';');
    expect(script).toMatch(/ln -s \/usr\/local\/bin\/cni-ts "\$rootfs\/opt\/cni-ts\/bin\/\$p"/);
  });

  it('kind: no default CNI, and the pod subnet is the agent\'s cluster CIDR', () => {
    const kind = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kind/kind-config.yaml'), 'utf8'))[0]!.toJS();
    expect(kind).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4', networking: { disableDefaultCNI: true } });
    expect(kind.networking.podSubnet).toBe(configMap.data['cluster-cidr']);
    expect(kind.nodes.length).toBeGreaterThanOrEqual(2);
  });
});
