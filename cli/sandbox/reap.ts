/**
 * Sandboxes whose supervisor died (kill -9, a crash, a reboot of cnictl) are found by every command that looks at
 * sandboxes and cleaned up: their processes killed, networks detached (CNI DEL), namespace removed. The check is
 * cheap (/proc reads); the teardown code loads only when something is dead. A sandbox whose command (its init) died
 * while its supervisor lives is being torn down by that supervisor: commands that look wait for it to finish, so
 * they never show a dead sandbox as running.
 */
import { isAlive, StateStore, type SandboxState } from './state.js';

export function deadSandboxes(store: StateStore): SandboxState[] {
  return store.list().filter((s) => s.status !== 'exited' && !isAlive(s.supervisor));
}

/** Running sandboxes whose init is gone (their supervisor is tearing them down). */
export function dyingSandboxes(store: StateStore): SandboxState[] {
  return store.list().filter((s) => s.status === 'running' && !!s.pid && !isAlive(s.pid) && isAlive(s.supervisor));
}

export async function reapDead(store: StateStore, env: NodeJS.ProcessEnv, waitMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (dyingSandboxes(store).length && Date.now() - t0 < waitMs) await new Promise((r) => setTimeout(r, 50));
  if (deadSandboxes(store).length === 0) return;
  const { Sandboxes } = await import('./lifecycle.js');
  new Sandboxes(env).reap();
}
