/**
 * IPAM delegation: the IPAM named in ipam.type is found in CNI_PATH. When that executable is cni-ts's own host-local
 * from the same build, it runs in-process (same code and input, one Node start saved); anything else is executed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
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

  function addDel(path: string) {
    const c = net.addContainer();
    const dataDir = net.tempDir();
    const base = { plugin: bin('bridge'), conf: conf(dataDir), containerId: 'd1', netns: c.path, ifname: 'eth0', path };
    const leaseFiles = () => (existsSync(join(dataDir, 'delnet')) ? readdirSync(join(dataDir, 'delnet')).filter((f) => f.startsWith('10.')) : []);
    const add = net.run({ ...base, command: 'ADD' });
    const addrs = v4(addressesOf(c.name, 'eth0'));
    const leases = leaseFiles();
    const del = net.run({ ...base, command: 'DEL' });
    const after = leaseFiles();
    return { add, addrs, leases, del, after };
  }

  it('runs our host-local of the same build in-process: it works even when that file cannot be executed', () => {
    net = new TestNet('dlg');
    const dir = net.tempDir();
    copyFileSync(bin('host-local'), join(dir, 'host-local'));
    chmodSync(join(dir, 'host-local'), 0o644); // exec would fail with EACCES
    const r = addDel(dir);
    expect(r.add.status, r.add.stdout).toBe(0);
    expect(r.addrs).toEqual(['10.66.0.2/24']);
    expect(r.leases).toEqual(['10.66.0.2']);
    expect(r.del.status, r.del.stdout).toBe(0);
    expect(r.after).toEqual([]);
  });

  it('executes a host-local from another build (and reports its failure) instead of running it in-process', () => {
    net = new TestNet('dlg');
    const dir = net.tempDir();
    const text = readFileSync(bin('host-local'), 'utf8').replace(/^(#![^\n]*\n\/\/ cni-ts )[0-9a-f]+/, '$1otherbuild');
    writeFileSync(join(dir, 'host-local'), text, { mode: 0o644 });
    const denied = addDel(dir);
    expect(denied.add.status).toBe(1);
    expect(denied.add.json.msg).toMatch(/plugin host-local failed|EACCES|permission denied/i);
    expect(denied.addrs).toEqual([]);
    chmodSync(join(dir, 'host-local'), 0o755);
    const ok = addDel(dir);
    expect(ok.add.status, ok.add.stdout).toBe(0);
    expect(ok.leases).toEqual(['10.66.0.2']);
    expect(ok.after).toEqual([]);
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
