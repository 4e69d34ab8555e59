/**
 * Every failing case the fuzzer ever saved (test/fuzz/regressions/*.json, whoever failed it: cni-ts or the reference)
 * replayed against cni-ts through the same runner as `npm run fuzz`: a fresh sandbox, the built executable, each
 * invocation in its own PID namespace; no crash, hang, leak, bad output or runaway fork.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { DIST, isRoot } from '../helpers/harness.js';
import { REGRESSIONS, loadSaved } from '../fuzz/saved.js';
import { runCase } from '../fuzz/runner.js';

const saved = existsSync(REGRESSIONS) ? loadSaved(REGRESSIONS) : [];

describe.skipIf(!isRoot || !saved.length)('fuzz regressions replayed against cni-ts', () => {
  for (const s of saved) {
    const c = s.case;
    it(`${c.target} seed ${c.seed} case ${c.index} [${c.mutations.join('; ').slice(0, 120)}] (failed ${s.found}: ${s.findings[0]?.slice(0, 100)})`, async () => {
      const report = await runCase(c, { bin: DIST, timeoutSec: 60 });
      expect(report.findings.map((f) => `${f.kind} in ${f.step}: ${f.detail}`)).toEqual([]);
    });
  }
});
