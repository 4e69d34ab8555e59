/**
 * Traffic for integration tests: Node TCP (port 80) and UDP (port 5353) servers inside a netns that answer with their
 * name, and a one-shot client. The servers stop by themselves after 110 s at the latest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pluginEnv, sh } from './harness.js';

const SERVER = `
const net = require('net'), dgram = require('dgram');
const name = process.argv[1];
let up = 0; const ready = () => { if (++up === 2) process.stdout.write('ready\\n'); };
net.createServer((s) => s.end('hello from ' + name + '\\n')).listen(80, '::', ready);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send('pong from ' + name, r.port, r.address));
u.bind(5353, '0.0.0.0', ready);
setTimeout(() => process.exit(0), 110000);
`;

const CLIENT = `
const [proto, host, port, sport] = process.argv.slice(1);
const done = (s) => { process.stdout.write(s); process.exit(0); };
setTimeout(() => done('TIMEOUT'), 1500);
if (proto === 'tcp') {
  const s = require('net').connect(Number(port), host);
  let buf = '';
  s.on('data', (d) => (buf += d));
  s.on('end', () => done(buf.trim()));
  s.on('error', (e) => done('ERR ' + e.code));
} else {
  const u = require('dgram').createSocket('udp4');
  u.on('message', (m) => done(String(m)));
  u.bind(sport ? Number(sport) : 0, () => u.send('ping', Number(port), host));
}
`;

export class Servers {
  private procs: ChildProcess[] = [];
  async start(netns: string, name: string): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', SERVER, name], { env: pluginEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`server in ${netns} did not start`)), 10000);
      p.stdout!.on('data', (d) => String(d).includes('ready') && (clearTimeout(t), res()));
      p.on('exit', (c) => (clearTimeout(t), rej(new Error(`server in ${netns} exited ${c}`))));
    });
  }
  stopAll(): void {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    this.procs = [];
  }
}

export function request(netns: string, proto: 'tcp' | 'udp', host: string, port: number, sport?: number): string {
  const args = ['netns', 'exec', netns, process.execPath, '-e', CLIENT, proto, host, String(port), ...(sport ? [String(sport)] : [])];
  const r = sh('ip', args);
  return r.stdout.trim() || `EXIT ${r.status} ${r.stderr}`;
}
