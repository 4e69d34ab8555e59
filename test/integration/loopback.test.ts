import { afterEach, describe, expect, it } from 'vitest';
import { TestNet, bin, goBin, haveGoPlugins, isRoot } from '../helpers/harness.js';

describe.skipIf(!isRoot)('loopback', () => {
  let net: TestNet;
  afterEach(() => net?.cleanup());

  it('sets lo up on ADD, reports its addresses, CHECK passes, DEL sets it down (twice)', () => {
    net = new TestNet('lo');
    const c = net.addContainer();
    net.exec(c.name, 'ip', ['link', 'set', 'lo', 'down']);
    const conf = { cniVersion: '1.0.0', name: 'lo', type: 'loopback' };
    const base = { plugin: bin('loopback'), conf, containerId: 'ctr1', netns: c.path, ifname: 'lo' };
    const add = net.run({ ...base, command: 'ADD' });
    expect(add.status, add.stdout).toBe(0);
    expect(add.json.interfaces).toEqual([{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: c.path }]);
    expect(add.json.ips.map((i: any) => i.address)).toEqual(['127.0.0.1/8', '::1/128']);
    expect(net.ipJson(c.name, ['link', 'show', 'lo'])[0].flags).toContain('UP');
    expect(net.run({ ...base, command: 'CHECK' }).status).toBe(0);
    expect(net.run({ ...base, command: 'DEL' }).status).toBe(0);
    expect(net.ipJson(c.name, ['link', 'show', 'lo'])[0].flags).not.toContain('UP');
    const check = net.run({ ...base, command: 'CHECK' });
    expect(check.status).toBe(1);
    expect(check.json.msg).toBe('loopback interface is down');
    expect(net.run({ ...base, command: 'DEL' }).status).toBe(0);
  });

  it('DEL succeeds when the netns is gone or CNI_NETNS is empty', () => {
    net = new TestNet('lo');
    const conf = { cniVersion: '1.0.0', name: 'lo', type: 'loopback' };
    const base = { plugin: bin('loopback'), conf, containerId: 'ctr1', ifname: 'lo', command: 'DEL' };
    expect(net.run({ ...base, netns: '/run/netns/cnits-does-not-exist' }).status).toBe(0);
    expect(net.run({ ...base, netns: '' }).status).toBe(0);
  });

  it('runs concurrently with the main network plugin, as containerd\'s CRI calls it, for several pods at once', async () => {
    net = new TestNet('lo');
    const dataDir = net.tempDir();
    const pods = [0, 1, 2, 3].map(() => net.addContainer());
    const lo = { cniVersion: '1.0.0', name: 'lo', type: 'loopback' };
    const br = { cniVersion: '1.0.0', name: 'lonet', type: 'bridge', bridge: 'cnilo0', isGateway: true, ipam: { type: 'host-local', dataDir, subnet: '10.67.0.0/24' } };
    const runs = await Promise.all(
      pods.flatMap((p, i) => [
        net.runAsync({ plugin: bin('loopback'), command: 'ADD', conf: lo, containerId: `pod${i}`, netns: p.path, ifname: 'lo' }),
        net.runAsync({ plugin: bin('bridge'), command: 'ADD', conf: br, containerId: `pod${i}`, netns: p.path, ifname: 'eth0' }),
      ]),
    );
    expect(runs.filter((r) => r.status !== 0).map((r) => r.stdout)).toEqual([]);
    for (const p of pods) {
      expect(net.ipJson(p.name, ['link', 'show', 'lo'])[0].flags).toContain('UP');
      expect(net.ipJson(p.name, ['-4', 'addr', 'show', 'eth0'])[0].addr_info[0].local).toMatch(/^10\.67\.0\.\d+$/);
    }
  });

  it.skipIf(!haveGoPlugins)('gives the same result as the Go loopback at 1.0.0', () => {
    net = new TestNet('lo');
    const c1 = net.addContainer();
    const c2 = net.addContainer();
    const conf = { cniVersion: '1.0.0', name: 'lo', type: 'loopback' };
    const ours = net.run({ plugin: bin('loopback'), conf, command: 'ADD', containerId: 'a', netns: c1.path, ifname: 'lo' });
    const go = net.run({ plugin: goBin('loopback'), conf, command: 'ADD', containerId: 'a', netns: c2.path, ifname: 'lo' });
    const norm = (j: any) => ({ ...j, dns: undefined, interfaces: j.interfaces.map((i: any) => ({ ...i, sandbox: 'X' })) });
    expect(norm(ours.json)).toEqual(norm(go.json));
  });
});
