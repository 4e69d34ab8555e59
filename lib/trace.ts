/**
 * Opt-in timing trace: with CNI_TS_TRACE=<file>, every program exec and every in-process delegation appends one JSON
 * line `{"pid","prog","what","ms","t","rssKb","anonKb"}` to that file (t = ms since the process started, rssKb its
 * resident memory then, anonKb the private part of it: the rest is the executable's code mapped from the page cache). Used by `npm run bench` to
 * take an invocation apart by phase, and by tests to see which path a delegation took. Off (one env read) otherwise.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { basename } from './paths.js';

const file = (): string | undefined => process.env.CNI_TS_TRACE || undefined;

export const tracing = (): boolean => file() !== undefined;

/** The program name this process runs as (the multi-call executable's invoked name). */
export const programName = (): string => basename(typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? process.argv0 : process.argv[1] ?? '');

export function traceEvent(what: string, ms: number): void {
  const f = file();
  if (!f) return;
  const line = JSON.stringify({ pid: process.pid, prog: programName(), what, ms: Math.round(ms * 1000) / 1000, t: Math.round(performance.now() * 1000) / 1000, rssKb: rssKb(), anonKb: statusKb('RssAnon') });
  try {
    appendFileSync(f, line + '\n');
  } catch {
    /* tracing must never fail an operation */
  }
}

/** Run `fn`, tracing its duration as `what` when tracing is on. */
export function traced<T>(what: string | (() => string), fn: () => T): T {
  if (!tracing()) return fn();
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    traceEvent(typeof what === 'string' ? what : what(), performance.now() - t0);
  }
}

function statusKb(field: 'VmHWM' | 'VmRSS' | 'RssAnon'): number | undefined {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The process's peak resident set size so far (VmHWM), and its current one (VmRSS), for the trace. */
export const peakRssKb = (): number | undefined => statusKb('VmHWM');
const rssKb = (): number | undefined => statusKb('VmRSS');
