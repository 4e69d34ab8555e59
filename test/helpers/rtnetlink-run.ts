/**
 * Runs one `ip`, `bridge` or `nft` command line through the in-process path (lib/rtnetlink, lib/nftables), under Bun
 * (the FFI), as the executable does:
 *   bun test/helpers/rtnetlink-run.ts [--netns PATH] ip|bridge|nft ARGS...   (stdin: the -batch / -f - input)
 * Prints {"status","stdout","stderr"} as JSON, or {"taken":false} when the line is not taken over (the exec would run).
 * Used by test/integration/rtnetlink-compat.test.ts to compare the two paths command by command.
 */
import { readFileSync } from 'node:fs';
import { nftInProcess } from '../../lib/nftables.js';
import { bridgeInProcess, ipInProcess } from '../../lib/rtnetlink/index.js';

const argv = process.argv.slice(2);
let netns: string | undefined;
if (argv[0] === '--netns') {
  netns = argv[1];
  argv.splice(0, 2);
}
const [tool, ...args] = argv;
const input = args.includes('-batch') || args.includes('-f') ? readFileSync(0, 'utf8') : undefined;
const r = tool === 'nft' ? nftInProcess(args, input, netns) : tool === 'bridge' ? bridgeInProcess(args, input, netns) : ipInProcess(args, input, netns);
process.stdout.write(JSON.stringify(r ? { taken: true, ...r } : { taken: false }) + '\n');
