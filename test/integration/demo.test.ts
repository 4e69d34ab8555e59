/**
 * The README's first command, `npm start` (scripts/demo.sh): it must run to the end on this machine, show the network
 * working (a fetch by name between sandboxes, the published port from the host and from outside) and leave the
 * machine as it found it (the script compares snapshots and exits non-zero otherwise).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, isRoot, pluginEnv } from '../helpers/harness.js';

describe.skipIf(!isRoot)('npm start (the demo)', () => {
  it('runs to the end: traffic by name, through the published port from the host and from outside; nothing left', () => {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'demo.sh')], { encoding: 'utf8', env: pluginEnv({ HOME: '/root' }), timeout: 110_000 });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/exec db -- node -e "\$FETCH" http:\/\/web\/\nhello from /);
    expect(out).toMatch(/http:\/\/127\.0\.0\.1:8080\/\nhello from /);
    expect(out).toMatch(/http:\/\/192\.0\.2\.1:8080\/\nhello from /);
    expect(out).toMatch(/80\/tcp -> 0\.0\.0\.0:8080/);
    expect(out).toMatch(/elements = \{ tcp \. 8080 comment "demo-net\/[0-9a-f]+" : [0-9.]+ \. 80 \}/);
    expect(out).toContain("The machine's own links, nft ruleset, namespaces and CNI dirs are unchanged.");
  });
});
