/**
 * Where cnictl reads and writes, from the environment (cnitool's variables, plus overrides for tests).
 * NETCONFPATH   network configs (default /etc/cni/net.d)
 * CNI_PATH      plugin directories (default /opt/cni/bin)
 * CNI_CACHEDIR  libcni's cache dir (default /var/lib/cni; results in <dir>/results)
 * CNICTL_STATE_DIR  sandboxes (default /run/cnictl)
 * CNICTL_CONFIG     settings such as the default network's "bip" (default /etc/cnictl/config.json)
 * CNICTL_DATA_DIR   what cnictl must remember about networks across reboots, e.g. which bridges it created
 *                   (default /var/lib/cnictl)
 */
export interface Paths {
  netconf: string;
  cniPath: string[];
  cacheDir: string;
  stateDir: string;
  config: string;
  dataDir: string;
}

export function pathsFrom(env: NodeJS.ProcessEnv): Paths {
  return {
    netconf: env.NETCONFPATH || '/etc/cni/net.d',
    cniPath: (env.CNI_PATH || '/opt/cni/bin').split(':').filter(Boolean),
    cacheDir: env.CNI_CACHEDIR || '/var/lib/cni',
    stateDir: env.CNICTL_STATE_DIR || '/run/cnictl',
    config: env.CNICTL_CONFIG || '/etc/cnictl/config.json',
    dataDir: env.CNICTL_DATA_DIR || '/var/lib/cnictl',
  };
}
