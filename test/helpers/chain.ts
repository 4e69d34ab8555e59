/**
 * A small libcni-like runner for tests: runs a conflist's plugins as a runtime does.
 * ADD in order with prevResult, runtimeConfig holding only the capabilities each plugin declares; the final
 * result (and the capability args) cached per (network, container, ifname); CHECK in order and DEL in reverse
 * order with the cached result as prevResult (≥0.4.0); GC sends `cni.dev/valid-attachments` to every plugin.
 * Plugins are found in `path` (like CNI_PATH) unless `plugins` maps a type to an executable.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compareVersions } from '../../lib/cni/version.js';
import { DIST, GO_PLUGINS, type Invocation, type PluginRun, runPlugin } from './harness.js';

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown>>;
  disableCheck?: boolean;
}

export interface Attachment {
  containerId: string;
  /** CNI_NETNS path ('' allowed for DEL). */
  netns: string;
  ifname?: string;
  /** Capability args offered to plugins (e.g. { portMappings: [...] }). DEL/CHECK reuse ADD's when omitted. */
  capabilityArgs?: Record<string, unknown>;
  cniArgs?: string;
}

export interface ChainOptions {
  /** CNI_PATH given to plugins and used to find them. Default: our dist/bin, then the Go plugins. */
  path?: string;
  /** Explicit executables per plugin type (e.g. { bridge: goBin('bridge') }). */
  plugins?: Record<string, string>;
  /** The netns (name) plugins run in, e.g. TestNet.host. Required: plugins never run in the machine's own netns. */
  hostNetns: string;
  env?: Record<string, string | undefined>;
}

export class ChainError extends Error {
  constructor(
    readonly command: string,
    readonly type: string,
    readonly run: PluginRun,
  ) {
    super(`${command} failed in plugin ${type} (exit ${run.status}): ${run.stdout || run.stderr}`);
  }
}

interface Cached {
  result: unknown;
  capabilityArgs: Record<string, unknown>;
}

export class Chain {
  readonly cache = new Map<string, Cached>();
  /** Every plugin exec made: command, type, duration (ms). */
  readonly log: Array<{ command: string; type: string; ms: number; status: number }> = [];

  constructor(
    readonly list: ConfList,
    readonly opts: ChainOptions,
  ) {
    if (!opts.hostNetns) throw new Error('Chain: hostNetns is required (plugins must run in a throwaway netns)');
  }

  get path(): string {
    return this.opts.path ?? `${DIST}:${GO_PLUGINS}`;
  }

  find(type: string): string {
    const explicit = this.opts.plugins?.[type];
    if (explicit) return explicit;
    for (const d of this.path.split(':')) {
      const p = join(d, type);
      if (existsSync(p)) return p;
    }
    throw new Error(`plugin ${type} not found in ${this.path}`);
  }

  private key(a: Attachment): string {
    return `${this.list.name}-${a.containerId}-${a.ifname ?? 'eth0'}`;
  }

  /** The stdin of plugin `i`: its object + name + cniVersion + runtimeConfig + prevResult. */
  pluginConf(i: number, capabilityArgs: Record<string, unknown>, prevResult?: unknown): Record<string, unknown> {
    const p = this.list.plugins[i]!;
    const conf: Record<string, unknown> = { ...p, name: this.list.name, cniVersion: this.list.cniVersion };
    const caps = (p.capabilities ?? {}) as Record<string, boolean>;
    const rc: Record<string, unknown> = {};
    for (const [k, on] of Object.entries(caps)) if (on && k in capabilityArgs) rc[k] = capabilityArgs[k];
    if (Object.keys(rc).length) conf.runtimeConfig = { ...((p.runtimeConfig as object) ?? {}), ...rc };
    if (prevResult !== undefined) conf.prevResult = prevResult;
    return conf;
  }

  private exec(command: string, i: number, a: Attachment, conf: unknown): PluginRun {
    const type = String(this.list.plugins[i]!.type);
    const inv: Invocation = {
      plugin: this.find(type),
      command,
      conf,
      containerId: a.containerId,
      netns: a.netns,
      ifname: a.ifname ?? 'eth0',
      args: a.cniArgs,
      path: this.path,
      env: this.opts.env,
      hostNetns: this.opts.hostNetns,
    };
    const t0 = performance.now();
    const r = runPlugin(inv);
    this.log.push({ command, type, ms: performance.now() - t0, status: r.status });
    if (r.status !== 0) throw new ChainError(command, type, r);
    return r;
  }

  add(a: Attachment): any {
    const caps = a.capabilityArgs ?? {};
    let prev: unknown;
    for (let i = 0; i < this.list.plugins.length; i++) {
      prev = this.exec('ADD', i, a, this.pluginConf(i, caps, prev)).json;
    }
    this.cache.set(this.key(a), { result: prev, capabilityArgs: caps });
    return prev;
  }

  check(a: Attachment): void {
    if (compareVersions(this.list.cniVersion, '0.4.0') < 0) throw new Error(`configuration version "${this.list.cniVersion}" does not support the CHECK command`);
    const cached = this.cache.get(this.key(a));
    if (!cached) throw new Error(`no cached result for ${this.key(a)}`);
    const caps = a.capabilityArgs ?? cached.capabilityArgs;
    for (let i = 0; i < this.list.plugins.length; i++) this.exec('CHECK', i, a, this.pluginConf(i, caps, cached.result));
  }

  /** DEL in reverse order; `withPrevResult: false` simulates a runtime that lost its cache. */
  del(a: Attachment, opts: { withPrevResult?: boolean } = {}): void {
    const cached = this.cache.get(this.key(a));
    const caps = a.capabilityArgs ?? cached?.capabilityArgs ?? {};
    const usePrev = opts.withPrevResult !== false && compareVersions(this.list.cniVersion, '0.4.0') >= 0;
    for (let i = this.list.plugins.length - 1; i >= 0; i--) {
      this.exec('DEL', i, a, this.pluginConf(i, caps, usePrev ? cached?.result : undefined));
    }
    this.cache.delete(this.key(a));
  }

  /** GC (1.1.0+): send GC with the valid attachments to every plugin (cached-attachment DELs are left to the test). */
  gc(valid: Array<{ containerID: string; ifname: string }>): void {
    for (let i = 0; i < this.list.plugins.length; i++) {
      const conf = { ...this.pluginConf(i, {}), 'cni.dev/valid-attachments': valid };
      this.exec('GC', i, { containerId: '', netns: '' }, conf);
    }
  }
}
