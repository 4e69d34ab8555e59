/**
 * Failing cases saved as regression cases (test/fuzz/regressions/*.json), replayed by
 * test/integration/fuzz-regressions.test.ts. A stdin longer than 4 KB is stored gzipped (base64) as `stdinGz`.
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ROOT } from '../helpers/harness.js';
import type { Case, Step } from './generate.js';

export const REGRESSIONS = join(ROOT, 'test', 'fuzz', 'regressions');

export interface SavedCase {
  /** Who failed it when it was saved: "cni-ts" or "reference <dir>". */
  found: string;
  findings: string[];
  case: Case;
}

type StoredStep = Step & { stdinGz?: string };

const LONG = 4096;

const pack = (s: Step): StoredStep => {
  if (s.stdin === undefined || s.stdin.length <= LONG) return s;
  const { stdin, ...rest } = s;
  return { ...rest, stdinGz: gzipSync(Buffer.from(stdin, 'latin1')).toString('base64') };
};

/** Stored as latin1 (one byte per char): only a stdin whose chars all fit is packed (saveCase checks). */
const unpack = (s: StoredStep): Step => {
  if (s.stdinGz === undefined) return s;
  const { stdinGz, ...rest } = s;
  return { ...rest, stdin: gunzipSync(Buffer.from(stdinGz, 'base64')).toString('latin1') };
};

export function saveCase(file: string, saved: SavedCase): void {
  const c = { ...saved.case, steps: saved.case.steps.map((s) => (s.stdin && !s.stdinBytes && /[^\u0000-\u00ff]/.test(s.stdin) ? s : pack(s))) };
  writeFileSync(file, JSON.stringify({ ...saved, case: c }, null, 2) + '\n');
}

export function loadSaved(path: string): SavedCase[] {
  const files = statSync(path).isDirectory() ? readdirSync(path).filter((f) => f.endsWith('.json')).sort().map((f) => join(path, f)) : [path];
  return files.map((f) => {
    const saved = JSON.parse(readFileSync(f, 'utf8')) as SavedCase;
    return { ...saved, case: { ...saved.case, steps: (saved.case.steps as StoredStep[]).map(unpack) } };
  });
}
