/**
 * Duplicate keys in the "sysctl" object: JSON.parse keeps the last silently, the reference refuses them
 * ("duplicated sysctl keys are not allowed"). A small forward scan of the raw stdin text, which JSON.parse has
 * already validated. Pure.
 */
import { configError } from '../../lib/cni/errors.js';

/** Index just past the JSON string starting at `i` (a '"'). */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  return text.length;
}

/** The keys (decoded, in order, duplicates kept) of the object that is the value of top-level `field`. */
export function topLevelObjectKeys(text: string, field: string): string[] {
  const stack: string[] = []; // open containers: '{' or '['
  let expectKey = false;
  let lastTopKey: string | undefined;
  let fieldDepth = -1; // stack depth inside the field's object, when in it
  const keys: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const end = stringEnd(text, i);
      if (expectKey) {
        const key = JSON.parse(text.slice(i, end)) as string;
        if (stack.length === 1) lastTopKey = key;
        else if (stack.length === fieldDepth) keys.push(key);
      }
      expectKey = false;
      i = end - 1;
    } else if (c === '{' || c === '[') {
      if (c === '{' && stack.length === 1 && lastTopKey === field && fieldDepth < 0) fieldDepth = 2;
      stack.push(c);
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      if (stack.length === fieldDepth) fieldDepth = -3; // done: later duplicates of the field itself are not ours
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] === '{';
    } else if (c === ':') {
      expectKey = false;
    }
  }
  return keys;
}

export function checkNoDuplicateSysctls(stdin: string): void {
  const seen = new Set<string>();
  for (const k of topLevelObjectKeys(stdin, 'sysctl')) {
    if (seen.has(k)) throw configError(`duplicated sysctl keys are not allowed: ${JSON.stringify(k)} appears twice in "sysctl"`);
    seen.add(k);
  }
}
