/** `cnictl network connect|disconnect`: attach a running sandbox to one more network (eth1, eth2…) or detach it. */
import { Sandboxes } from '../sandbox/lifecycle.js';
import { bool, list, parseArgs, str } from '../util/args.js';
import { usageError } from '../util/errors.js';
import { out } from '../util/output.js';
import { requireRoot } from '../util/root.js';

export async function connectCommand(verb: 'connect' | 'disconnect', argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, verb === 'connect' ? [{ name: 'ip', value: true }, { name: 'alias', value: true, multi: true }] : [{ name: 'force', short: 'f' }]);
  if (p.positional.length !== 2) throw usageError(`Usage: cnictl network ${verb} ${verb === 'connect' ? '[--ip IP] [--alias NAME]...' : '[-f]'} NETWORK SANDBOX`);
  requireRoot(`network ${verb}`);
  const [network, ref] = p.positional as [string, string];
  const sb = new Sandboxes(env);
  if (verb === 'connect') {
    const a = sb.connect(network, ref, str(p, 'ip'), list(p, 'alias'));
    out(`${a.ifname} ${a.ips.join(' ')}`);
  } else sb.disconnect(network, ref, bool(p, 'force'));
  return 0;
}
