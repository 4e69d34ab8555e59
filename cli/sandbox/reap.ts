/**
 * Sandboxes whose supervisor died (kill -9, a crash, a reboot of cnictl) are found by every command that looks at
 * sandboxes and cleaned up: their processes killed, networks detached (CNI DEL), namespace removed. The check is
 * cheap (/proc reads); the teardown code loads only when something is dead.
 */
import { isAlive, StateStore, type SandboxState } from './state.js';

export function deadSandboxes(store: StateStore): SandboxState[] {
  return store.list().filter((s) => s.status !== 'exited' && !isAlive(s.supervisor));
}

export async function reapDead(store: StateStore, env: NodeJS.ProcessEnv): Promise<void> {
  if (deadSandboxes(store).length === 0) return;
  const { Sandboxes } = await import('./lifecycle.js');
  new Sandboxes(env).reap();
}
