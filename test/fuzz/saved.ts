/** Failing cases saved as regression cases (test/fuzz/regressions/*.json), replayed by test/integration/fuzz-regressions.test.ts. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/harness.js';
import type { Case } from './generate.js';

export const REGRESSIONS = join(ROOT, 'test', 'fuzz', 'regressions');

export interface SavedCase {
  /** Who failed it when it was saved: "cni-ts" or "reference <dir>". */
  found: string;
  findings: string[];
  case: Case;
}

export function loadSaved(path: string): SavedCase[] {
  const files = statSync(path).isDirectory() ? readdirSync(path).filter((f) => f.endsWith('.json')).sort().map((f) => join(path, f)) : [path];
  return files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as SavedCase);
}
