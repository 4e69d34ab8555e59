/** CNI_ARGS ("K=V;K=V") parsing with the reference's IgnoreUnknown semantics. Pure. */
import { CniError, ErrorCode } from './errors.js';

/** Keys every runtime may send; accepted by every plugin (the reference rejects them without IgnoreUnknown). */
const ALWAYS_KNOWN = ['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID'];

const argsError = (msg: string): CniError => new CniError(ErrorCode.InvalidEnvironment, `CNI_ARGS: ${msg}`);

function parseBool(key: string, v: string): boolean {
  const l = v.toLowerCase();
  if (l === '1' || l === 'true') return true;
  if (l === '0' || l === 'false') return false;
  throw argsError(`error parsing value of pair "${key}=${v}": not a boolean`);
}

/**
 * Parse CNI_ARGS. `known` are the plugin's own keys (case-sensitive, as the reference matches Go field names).
 * Unknown keys are an error unless IgnoreUnknown is true (wherever it appears).
 */
export function parseCniArgs(raw: string | undefined, known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  const unknown: string[] = [];
  let ignoreUnknown = false;
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const kv = pair.split('=');
    if (kv.length !== 2) throw argsError(`invalid pair "${pair}" (expected KEY=VALUE)`);
    const [k, v] = kv as [string, string];
    if (k === 'IgnoreUnknown') ignoreUnknown = parseBool(k, v);
    if (known.includes(k) || ALWAYS_KNOWN.includes(k)) out[k] = v;
    else unknown.push(pair);
  }
  if (unknown.length && !ignoreUnknown) throw argsError(`unknown args ${JSON.stringify(unknown)} (set IgnoreUnknown=1 to ignore them)`);
  return out;
}
