/** What people read: aligned tables (Docker's style: upper-case headers, 3 spaces between columns) and JSON. */
import { writeSync } from 'node:fs';

export function out(text: string): void {
  writeSync(1, text.endsWith('\n') ? text : text + '\n');
}

export function err(text: string): void {
  writeSync(2, text.endsWith('\n') ? text : text + '\n');
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';

/** "3 seconds", "2 minutes", "About an hour", as Docker prints durations. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 1) return 'Less than a second';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  return `${Math.round(h / 24)} days`;
}
