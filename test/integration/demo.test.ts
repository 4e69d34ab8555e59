/**
 * The README's first command, `npm start` (scripts/demo.sh): it must run to the end on this machine, show the network
 * working (a fetch by name between sandboxes, the published port from the host and from outside), two networks that
 * cannot reach each other and a sandbox on both that reaches both, and leave the machine as it found it (the script
 * compares snapshots and exits non-zero otherwise).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, isRoot, pluginEnv } from '../helpers/harness.js';

describe.skipIf(!isRoot)('npm start (the demo)', () => {
  it('runs to the end: traffic by name, through the published port from the host and from outside; isolated networks; nothing left', async () => {
    // spawned, not spawnSync: a test worker blocked for a minute or more (a loaded machine) loses its RPC to vitest
    const p = spawn('bash', [join(ROOT, 'scripts', 'demo.sh')], { env: pluginEnv({ HOME: '/root' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const kill = setTimeout(() => p.kill('SIGTERM'), 190_000); // the script's own limit is 180 s; its trap cleans up
    const r = { status: await new Promise<number | null>((res) => p.on('close', (code) => res(code))) };
    clearTimeout(kill);
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/exec db -- node -e "\$FETCH" http:\/\/web\/\nhello from /);
    expect(out).toMatch(/http:\/\/127\.0\.0\.1:8080\/\nhello from /);
    expect(out).toMatch(/http:\/\/192\.0\.2\.1:8080\/\nhello from /);
    expect(out).toMatch(/80\/tcp -> 0\.0\.0\.0:8080/);
    expect(out).toMatch(/elements = \{ tcp \. 8080 comment "demo-net\/[0-9a-f]+" : [0-9.]+ \. 80 \}/);
    // another network cannot reach demo-net's web; db, on both, reaches lonely (other-net) and web (demo-net)
    expect(out).toMatch(/exec lonely -- node -e "\$FETCH" http:\/\/[0-9.]+\/ {3}# web's address on demo-net\nfailed: /);
    expect(out).toMatch(/exec db -- node -e "\$FETCH" http:\/\/lonely\/\nhello from /);
    expect(out).toMatch(/network connect other-net db\neth1 [0-9.]+\/\d+\n/);
    expect(out).toMatch(/-A CNI-ISOLATION-STAGE-2 -o br-[0-9a-f]{12} -j DROP/);
    expect(out).toContain("The machine's own links, nft ruleset, namespaces and CNI dirs are unchanged.");
  }, 200_000); // the script gives itself 180 s under load
});
