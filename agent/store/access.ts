/** From the agent's settings to how each store is reached: etcd's TLS and authentication, the Kubernetes API's access. */
import type { AgentConfig } from '../config.js';
import { EtcdAuth } from './etcd-auth.js';
import type { EtcdTransport } from './etcd-client.js';
import { inClusterAccess, kubeconfigAccess, KubeconfigError, type KubeAccess } from './kubeconfig.js';
import { TlsSource } from './tls.js';
import { FatalStoreError } from './types.js';

export function etcdTransport(cfg: AgentConfig, log: (msg: string) => void): EtcdTransport {
  const tls = new TlsSource({ ca: cfg.etcdCAFile, cert: cfg.etcdCertFile, key: cfg.etcdKeyFile }, { ca: '--etcd-cafile', cert: '--etcd-certfile', key: '--etcd-keyfile' });
  return {
    tls: tls.empty ? undefined : tls,
    auth: cfg.etcdUsername ? new EtcdAuth({ username: cfg.etcdUsername, password: cfg.etcdPassword }, log) : undefined,
  };
}

/** --kubeconfig-file when given, else in-cluster; a kubeconfig that cannot be used is a FatalStoreError (one line). */
export function kubeAccess(cfg: AgentConfig): KubeAccess {
  if (cfg.kubeconfigFile) {
    try {
      return kubeconfigAccess(cfg.kubeconfigFile, cfg.kubeAPIServer);
    } catch (e) {
      if (e instanceof KubeconfigError) throw new FatalStoreError(e.message);
      throw e;
    }
  }
  if (!cfg.kubeAPIServer) throw new FatalStoreError('no Kubernetes API server: not running in a cluster (KUBERNETES_SERVICE_HOST unset), no --kubeconfig-file and no --kube-api-server');
  return inClusterAccess(cfg.kubeAPIServer, cfg.kubeTokenFile, cfg.kubeCAFile);
}
