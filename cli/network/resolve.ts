/** Network references as Docker resolves them: a name, the full ID, or a unique prefix of the ID. Pure. */
import { UserError } from '../util/errors.js';
import { DEFAULT_NETWORK, networkId, PSEUDO } from './model.js';

/**
 * The name `ref` stands for among `names` (the networks with a config, plus host, none and the default network):
 * an exact name first, then a full ID, then an ID prefix that only one network has. Unknown refs come back as
 * given, so the caller's "not found" message names them; an ambiguous prefix is an error.
 */
export function resolveNetworkName(ref: string, names: readonly string[]): string {
  const all = [...new Set([...names, ...PSEUDO, DEFAULT_NETWORK])];
  if (all.includes(ref)) return ref;
  if (!/^[0-9a-f]+$/.test(ref)) return ref;
  const byId = all.filter((n) => networkId(n).startsWith(ref));
  if (byId.length > 1) throw new UserError(`network ${ref} is ambiguous (${byId.length} matches found based on ID prefix: ${byId.join(', ')}): give more of the ID or the name`);
  return byId[0] ?? ref;
}
