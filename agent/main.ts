/**
 * cni-ts-agent: one long-running process per node that gives the node a pod subnet (etcd lease or the Node's
 * spec.podCIDRs), connects it to every other node's (VXLAN overlay or host-gw routes), writes the node's CNI config and
 * masquerades pod traffic leaving the cluster. See docs/agent.md.
 *
 * main() does nothing at import; it resolves with the exit status (the daemon on SIGTERM/SIGINT).
 */
import { hostname } from 'node:os';
import { CNI_TS_VERSION } from '../lib/cni/skel.js';
import { ensurePath, setExecTimeout } from '../lib/exec.js';
import { AgentConfigError, loadConfig, usage } from './config.js';
import { runCleanup } from './cleanup.js';
import { runDaemon } from './daemon.js';
import { installPlugins } from './install.js';

export const VERSION = `cni-ts-agent ${CNI_TS_VERSION}`;

/** Every program the agent runs (ip, bridge, nft, iptables) is killed after this long: a hung one must not freeze it. */
export const EXEC_TIMEOUT_MS = 30_000;

const log = (msg: string): void => {
  process.stderr.write(`${new Date().toISOString()} cni-ts-agent: ${msg}\n`);
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  ensurePath();
  setExecTimeout(EXEC_TIMEOUT_MS);
  let cfg;
  try {
    cfg = loadConfig(argv, env, hostname);
  } catch (e) {
    if (e instanceof AgentConfigError) {
      process.stderr.write(`cni-ts-agent: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  switch (cfg.mode) {
    case 'help':
      process.stdout.write(usage());
      return 0;
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'install-cni':
      try {
        for (const line of installPlugins(cfg.installFrom, cfg.cniBinDir, cfg.installReplace)) log(line);
        return 0;
      } catch (e) {
        log((e as Error).message);
        return 1;
      }
  }
  const ac = new AbortController();
  const stop = (sig: string) => () => {
    if (!ac.signal.aborted) log(`${sig} received`);
    ac.abort();
  };
  const onTerm = stop('SIGTERM');
  const onInt = stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  try {
    return cfg.mode === 'cleanup' ? await runCleanup(cfg, ac.signal, log) : await runDaemon(cfg, ac.signal, log);
  } catch (e) {
    log(`fatal: ${(e as Error).message}`);
    return 1;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
}
