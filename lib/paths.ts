/**
 * POSIX path helpers with node:path's results (join, dirname, basename). A plugin's start loads only what its code
 * imports, and node:path is a JS module of the runtime that costs Bun ~1.5 ms and ~70 fresh pages to load at every start,
 * for three string functions; the long-running programs (cnictl, the agent, the dhcp daemon) may use node:path.
 */

/** node:path's posix normalize: collapses `//`, `.` and `..` segments; keeps a leading `/` and a trailing one. */
export function normalize(path: string): string {
  if (path === '') return '.';
  const absolute = path.startsWith('/');
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
      continue;
    }
    out.push(seg);
  }
  let s = out.join('/');
  if (s === '' && !absolute) s = '.';
  if (s !== '' && path.endsWith('/')) s += '/';
  return absolute ? `/${s}` : s;
}

/** node:path's posix join: the non-empty parts joined by `/`, normalized; `.` when there is nothing. */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== '').join('/');
  return joined === '' ? '.' : normalize(joined);
}

/** node:path's posix dirname: up to the last slash before the last segment (trailing slashes ignored; `a//b` -> `a/`). */
export function dirname(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] !== '/') inTrailingSlashes = false;
    else if (!inTrailingSlashes) {
      end = i;
      break;
    }
  }
  if (end === -1) return rooted ? '/' : '.';
  if (rooted && end === 1) return '//';
  return path.slice(0, end);
}

/** node:path's posix basename (without the suffix argument): the last segment, trailing slashes ignored. */
export function basename(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === '/') end--;
  if (end === 0) return '';
  return path.slice(path.lastIndexOf('/', end - 1) + 1, end);
}
