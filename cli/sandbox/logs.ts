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
