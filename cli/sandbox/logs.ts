/**
 * A detached sandbox's output, kept as Docker's json-file driver keeps it: one JSON record per line,
 * {"log":"text\n","stream":"stdout"|"stderr","time":"RFC 3339"}, so `logs` gives stdout and stderr back apart,
 * `--tail N` counts lines and `-t` shows when each was written. A line the supervisor itself wrote (not JSON) is
 * shown as stderr. The parsing and tailing are pure; LogWriter appends.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export type Stream = 'stdout' | 'stderr';

export interface LogRecord {
  log: string;
  stream: Stream;
  time: string;
}

/** Longest line kept in one record before it is split (Docker's json-file splits at 16 KiB too). */
const MAX_LINE = 16 * 1024;

export class LogWriter {
  private fd: number;
  private partial: Record<Stream, string> = { stdout: '', stderr: '' };

  constructor(file: string) {
    this.fd = openSync(file, 'a');
  }

  write(stream: Stream, chunk: Buffer | string): void {
    let text = this.partial[stream] + chunk.toString();
    let out = '';
    const time = new Date().toISOString();
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      out += recordLine({ log: text.slice(0, nl + 1), stream, time });
      text = text.slice(nl + 1);
    }
    while (text.length >= MAX_LINE) {
      out += recordLine({ log: text.slice(0, MAX_LINE), stream, time });
      text = text.slice(MAX_LINE);
    }
    this.partial[stream] = text;
    if (out) writeSync(this.fd, out);
  }

  /** Write what is left of unterminated lines, and close. */
  close(): void {
    const time = new Date().toISOString();
    for (const stream of ['stdout', 'stderr'] as const) if (this.partial[stream]) writeSync(this.fd, recordLine({ log: this.partial[stream], stream, time }));
    this.partial = { stdout: '', stderr: '' };
    closeSync(this.fd);
  }
}

const recordLine = (r: LogRecord): string => `${JSON.stringify(r)}\n`;

/** Records of the complete lines of `text` (a trailing partial line is left for the next read). */
export function parseLog(text: string): { records: LogRecord[]; rest: string } {
  const records: LogRecord[] = [];
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  for (const line of lines) {
    if (!line) continue;
    let r: LogRecord | undefined;
    if (line.startsWith('{')) {
      try {
        const o = JSON.parse(line) as Partial<LogRecord>;
        if (typeof o.log === 'string' && (o.stream === 'stdout' || o.stream === 'stderr')) r = { log: o.log, stream: o.stream, time: typeof o.time === 'string' ? o.time : '' };
      } catch {
        /* not a record */
      }
    }
    records.push(r ?? { log: `${line}\n`, stream: 'stderr', time: '' });
  }
  return { records, rest };
}

/** The records of the last `n` lines (a record without a newline belongs to the line after it). */
export function tail(records: readonly LogRecord[], n: number | undefined): LogRecord[] {
  if (n === undefined) return [...records];
  if (n <= 0) return [];
  let lines = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    if (records[i]!.log.endsWith('\n') || i === records.length - 1) lines++;
    if (lines > n) return records.slice(i + 1);
  }
  return [...records];
}

/** `--tail` value: a number of lines or "all". */
export function parseTail(v: string | undefined): number | undefined {
  if (v === undefined || v === 'all') return undefined;
  if (!/^\d+$/.test(v)) return NaN;
  return Number(v);
}

/** What `--since`/`--until` take, for the error message. */
export const LOG_TIME_FORMS = 'an RFC 3339 time (2026-12-07T08:00:00Z, 2026-12-07T09:00:00.5+01:00), a Unix timestamp (1765094400, 1765094400.5) or a duration before now (10m, 1h30m, 1.5h, 250ms)';

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const UNIX = /^\d+(?:\.\d+)?$/;
// Docker's forms: a date, then optionally Thh, :mm, :ss, .fraction; a zone (Z or ±hh:mm) or none (local time)
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2})(?::(\d{2})(?::(\d{2})(\.\d+)?)?)?)?([Zz]|[+-]\d{2}:\d{2})?$/;

/**
 * `docker logs --since/--until` values, as milliseconds since the epoch (fractional): a Go duration means that long
 * before `now`; a Unix timestamp is seconds (with a decimal fraction); an RFC 3339 time without a zone is local time,
 * as Docker reads it. Undefined when the value is none of these. Pure.
 */
export function parseLogTime(value: string, now: number): number | undefined {
  const v = value.trim();
  if (v !== '0' && DURATION.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    return now - (v.startsWith('-') ? -ms : ms);
  }
  if (UNIX.test(v)) return Number(v) * 1000;
  const m = RFC3339.exec(v);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate() || h > 23 || mi > 59 || s > 59) return undefined;
  const frac = m[7] ? Number(`0${m[7]}`) * 1000 : 0;
  const zone = m[8];
  if (!zone) return new Date(y, mo - 1, d, h, mi, s).getTime() + frac;
  let offset = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const [oh, om] = [Number(zone.slice(1, 3)), Number(zone.slice(4, 6))];
    if (oh > 23 || om > 59) return undefined;
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) + frac - offset;
}

/** The records written at or after `since` and at or before `until` (ms; Docker's bounds); untimed ones only when unbounded. Pure. */
export function betweenTimes(records: readonly LogRecord[], since: number | undefined, until: number | undefined): LogRecord[] {
  if (since === undefined && until === undefined) return [...records];
  return records.filter((r) => {
    const t = r.time ? Date.parse(r.time) : NaN;
    if (Number.isNaN(t)) return false;
    return (since === undefined || t >= since) && (until === undefined || t <= until);
  });
}
