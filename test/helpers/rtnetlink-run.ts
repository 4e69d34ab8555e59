/**
 * Runs one `ip`, `bridge` or `nft` command line through the in-process path (lib/rtnetlink, lib/nftables), under Bun
 * (the FFI), as the executable does:
 *   bun test/helpers/rtnetlink-run.ts [--netns PATH] [--objects] ip|bridge|nft ARGS...   (stdin: the -batch / -f - input)
 * Prints {"status","stdout","stderr"} as JSON, or {"taken":false} when the line is not taken over (the exec would run).
 * --objects: a `-j` listing through listInProcess (Netns.list's path: the objects, no text), printed as `ip` would
 * print them, so both forms can be compared with the program's output.
 * Used by test/integration/rtnetlink-compat.test.ts to compare the two paths command by command.
 */
import { readFileSync } from 'node:fs';
import { nftInProcess } from '../../lib/nftables.js';
import { bridgeInProcess, ipInProcess, listInProcess, type RunResult } from '../../lib/rtnetlink/index.js';

const argv = process.argv.slice(2);
let netns: string | undefined;
if (argv[0] === '--netns') {
  netns = argv[1];
  argv.splice(0, 2);
}
const objects = argv[0] === '--objects';
if (objects) argv.shift();
const [tool, ...args] = argv;
const input = args.includes('-batch') || args.includes('-f') ? readFileSync(0, 'utf8') : undefined;
let r: RunResult | undefined;
if (objects) {
  const l = listInProcess(tool as 'ip' | 'bridge', args, netns);
  r = l && { status: l.status, stderr: l.stderr, stdout: l.stdout + l.lists.map((x) => `${JSON.stringify(x)}\n`).join('') };
} else r = tool === 'nft' ? nftInProcess(args, input, netns) : tool === 'bridge' ? bridgeInProcess(args, input, netns) : ipInProcess(args, input, netns);
process.stdout.write(JSON.stringify(r ? { taken: true, ...r } : { taken: false }) + '\n');
