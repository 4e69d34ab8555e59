/**
 * IPAM delegation: the IPAM named in ipam.type is found in CNI_PATH. When that executable is this very cni-ts
 * executable (the file itself or a link to it), host-local runs in-process (same code and input, one process start
 * saved); anything else — a copy, another build, the Go host-local, static — is executed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, copyFileSync, existsSync, readFileSync, readdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TestNet, addressesOf, bin, goBin, haveGoPlugins, isRoot } from '../helpers/harness.js';

const conf = (dataDir: string) => ({
  cniVersion: '1.0.0',
  name: 'delnet',
  type: 'bridge',
  bridge: 'cnidel0',
  isGateway: true,
  ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.66.0.0/24' }]] },
});

const v4 = (addrs: string[]) => addrs.filter((a) => !a.includes(':'));

describe.skipIf(!isRoot)('IPAM delegation', () => {
  let net: TestNet;
  afterEach(() => net?.cleanup());

  function addDel(path: string, env?: Record<string, string>) {
    const c = net.addContainer();
    const dataDir = net.tempDir();
    const base = { plugin: bin('bridge'), conf: conf(dataDir), containerId: 'd1', netns: c.path, ifname: 'eth0', path, ...(env ? { env } : {}) };
    const leaseFiles = () => (existsSync(join(dataDir, 'delnet')) ? readdirSync(join(dataDir, 'delnet')).filter((f) => f.startsWith('10.')) : []);
    const add = net.run({ ...base, command: 'ADD' });
    const addrs = v4(addressesOf(c.name, 'eth0'));
    const leases = leaseFiles();
    const del = net.run({ ...base, command: 'DEL' });
    const after = leaseFiles();
    return { add, addrs, leases, del, after };
  }

  /** The trace lines of a bridge ADD/DEL with `path` as CNI_PATH: which way each delegation went. */
  function delegations(path: string) {
    const trace = join(net.tempDir(), 'trace.jsonl');
    const r = addDel(path, { CNI_TS_TRACE: trace });
    const lines = existsSync(trace) ? readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
    const ipam = lines.filter((l) => l.prog === 'bridge' && /host-local/.test(l.what)).map((l) => l.what.replace(/ .*\/host-local/, ' host-local'));
    return { ...r, ipam };
  }

  it("runs host-local in-process when CNI_PATH's host-local is this very executable (a link to it)", () => {
    net = new TestNet('dlg');
    const dir = net.tempDir();
    symlinkSync(realpathSync(bin('cni-ts')), join(dir, 'host-local'));
    const r = delegations(dir);
    expect(r.add.status, r.add.stdout).toBe(0);
    expect(r.addrs).toEqual(['10.66.0.2/24']);
    expect(r.leases).toEqual(['10.66.0.2']);
    expect(r.del.status, r.del.stdout).toBe(0);
    expect(r.after).toEqual([]);
    expect(r.ipam).toEqual(['in-process host-local ADD', 'in-process host-local DEL']);
  });

  it('executes a host-local that is another file (a copy, another build) instead of running it in-process', () => {
    net = new TestNet('dlg');
    const dir = net.tempDir();
    copyFileSync(realpathSync(bin('cni-ts')), join(dir, 'host-local'));
    chmodSync(join(dir, 'host-local'), 0o644);
    const denied = addDel(dir);
    expect(denied.add.status).toBe(1);
    expect(denied.add.json.msg).toMatch(/plugin host-local failed|EACCES|permission denied/i);
    expect(denied.addrs).toEqual([]);
    chmodSync(join(dir, 'host-local'), 0o755);
    const ok = delegations(dir);
    expect(ok.add.status, ok.add.stdout).toBe(0);
    expect(ok.leases).toEqual(['10.66.0.2']);
    expect(ok.after).toEqual([]);
    expect(ok.ipam).toEqual(['exec host-local', 'exec host-local']);
  });

  it.skipIf(!haveGoPlugins)('executes any other IPAM from CNI_PATH (the Go host-local and static)', () => {
    net = new TestNet('dlg');
    const go = addDel('/usr/lib/cni');
    expect(go.add.status, go.add.stdout).toBe(0);
    expect(go.leases).toEqual(['10.66.0.2']);
    expect(go.after).toEqual([]);
    const c = net.addContainer();
    const st = net.run({
      plugin: bin('bridge'),
      command: 'ADD',
      conf: { ...conf('/x'), ipam: { type: 'static', addresses: [{ address: '10.66.0.77/24' }] } },
      containerId: 's1',
      netns: c.path,
      ifname: 'eth0',
      path: '/usr/lib/cni',
    });
    expect(st.status, st.stdout).toBe(0);
    expect(v4(addressesOf(c.name, 'eth0'))).toEqual(['10.66.0.77/24']);
    expect(goBin('static')).toBe('/usr/lib/cni/static');
  });
});
