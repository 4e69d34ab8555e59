/**
 * `cnictl inspect [-f FORMAT] [--type sandbox|network] NAME|ID…` and `cnictl container inspect`: sandboxes in
 * Docker's container shape (cli/sandbox/inspect.ts), networks as `network inspect` shows them; a JSON array, or a
 * Go template per object with -f/--format. What is not found is named on stderr (exit 1); the rest is printed.
 */
import { describe, networkId } from '../network/model.js';
import { NetworkStore } from '../network/store.js';
import { inspectSandbox, type NetworkFacts } from '../sandbox/inspect.js';
import { reapDead } from '../sandbox/reap.js';
import { StateStore, type SandboxState } from '../sandbox/state.js';
import { parseArgs, str } from '../util/args.js';
import { usageError } from '../util/errors.js';
import { formatEach } from '../util/format.js';
import { err, json, out } from '../util/output.js';
import { pathsFrom } from '../util/paths.js';
import { liveSandbox } from './ps.js';

export const INSPECT_USAGE = `Usage: cnictl inspect [-f FORMAT] [--type sandbox|network] NAME|ID...
       cnictl container inspect [-f FORMAT] SANDBOX...

Low-level information about sandboxes (Docker's container shape: Id, Name, State, Config, HostConfig,
NetworkSettings) and networks, as a JSON array.

  -f, --format FORMAT   a Go template per object, e.g. '{{.NetworkSettings.Networks.app.IPAddress}}',
                        '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', '{{json .State}}'
      --type TYPE       only sandboxes (also "container") or only networks`;

export function sandboxObject(s: SandboxState, store: StateStore, nets: NetworkStore): Record<string, unknown> {
  const { lists } = nets.load();
  const facts = (name: string): NetworkFacts | undefined => {
    if (name === 'host' || name === 'none') return { id: networkId(name) };
    const l = lists.find((x) => x.name === name);
    if (!l) return undefined;
    const ranges = describe(l).ranges;
    const g4 = ranges.find((r) => !r.subnet.includes(':'))?.gateway;
    const g6 = ranges.find((r) => r.subnet.includes(':'))?.gateway;
    return { id: networkId(name), ...(g4 ? { gateway4: g4 } : {}), ...(g6 ? { gateway6: g6 } : {}) };
  };
  const own = s.mode === 'container' && s.target ? s.target : s.id;
  return inspectSandbox({
    s,
    network: facts,
    files: { resolv: store.file(own, 'resolv.conf'), hosts: store.file(own, 'hosts'), hostname: store.file(own, 'hostname'), log: store.file(s.id, 'log') },
    running: liveSandbox(s),
  });
}

export async function inspectCommand(argv: string[], env: NodeJS.ProcessEnv, only?: 'sandbox'): Promise<number> {
  const p = parseArgs(argv, [{ name: 'format', short: 'f', value: true }, { name: 'type', value: true }, { name: 'size', short: 's' }]);
  if (!p.positional.length) throw usageError(INSPECT_USAGE);
  const type = only ?? str(p, 'type');
  if (type !== undefined && !['sandbox', 'container', 'network'].includes(type)) throw usageError(`invalid --type ${JSON.stringify(type)}: sandbox (or container) or network`);
  const paths = pathsFrom(env);
  const store = new StateStore(paths.stateDir);
  await reapDead(store, env);
  const nets = new NetworkStore(paths, env);
  const objects: unknown[] = [];
  const missing: string[] = [];
  for (const ref of p.positional) {
    const s = type === 'network' ? undefined : store.find(ref);
    if (s) {
      objects.push(sandboxObject(s, store, nets));
      continue;
    }
    if (type !== 'sandbox' && type !== 'container') {
      const { networkObjects } = await import('./network.js');
      const n = networkObjects([ref], env).objects[0];
      if (n) {
        objects.push(n);
        continue;
      }
    }
    missing.push(ref);
  }
  const text = formatEach(str(p, 'format'), objects, json);
  if (text) out(text);
  const what = type === 'network' ? 'network' : type ? 'sandbox' : 'object';
  for (const m of missing) err(`cnictl: no such ${what}: ${m} (see "cnictl ps -a"${type === 'sandbox' || type === 'container' ? '' : ' and "cnictl network ls"'})`);
  return missing.length ? 1 : 0;
}
