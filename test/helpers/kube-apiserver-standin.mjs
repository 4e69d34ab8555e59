#!/usr/bin/env node
// A STAND-IN for the Kubernetes API server, for tests only (no API server can run on this machine). It serves the
// small part of core/v1 that cni-ts-agent uses, with the documented protocol and the recorded shape of real answers:
//   GET   /api/v1/nodes[?limit=N[&continue=T]] NodeList {kind, apiVersion, metadata.{resourceVersion,continue}, items};
//                                            with --page-size P at most min(N, P) items a page and a continue token
//                                            (410 Expired when the token's version was compacted away)
//   GET   /api/v1/nodes/NAME                 Node, or a Status 404
//   GET   /api/v1/nodes?watch=1&resourceVersion=RV[&allowWatchBookmarks=true][&timeoutSeconds=N]
//                                            200 + one JSON watch event per line: ADDED / MODIFIED / DELETED / BOOKMARK,
//                                            or {"type":"ERROR","object":Status 410 "Expired"} when RV is older than the
//                                            retained history (as after an etcd compaction)
//   PATCH /api/v1/nodes/NAME/status          application/merge-patch+json (metadata.annotations; null deletes);
//                                            PATCH /api/v1/nodes/NAME is 403 Forbidden, as with cni-ts' ClusterRole
//                                            (nodes get/list/watch, nodes/status patch)
//   With --bookmark-ms N every open watch with allowWatchBookmarks gets a BOOKMARK every N ms (an API server sends
//   them about once a minute).
// Every request needs "Authorization: Bearer <token>", or — with --client-ca FILE — a client certificate signed by
// that CA (the user is its CN, as the API server's x509 authenticator does); 401 Status otherwise. TLS with the given
// cert/key.
// Controlled by JSON lines on stdin: {"op":"addNode","name","podCIDRs":[…],"internalIP","annotations"?},
// {"op":"deleteNode","name"}, {"op":"compact"} (forget the history: older resourceVersions get 410),
// {"op":"dropWatches"} (end every open watch, as an API server restart does), {"op":"freezeWatches"} (open watches
// get nothing more but stay open: a connection that died silently), {"op":"dump"} (prints the nodes),
// {"op":"setAddresses","name","internalIPs":[…]}, {"op":"setPodCIDRs","name","podCIDRs":[…]},
// {"op":"annotate","name","annotations":{…}} (null deletes), {"op":"heartbeat","name"} (a status-only update, as
// the kubelet's);
// {"ops":[…]} runs several in one go (no request is served in between).
// Reports on stdout, one JSON object a line: {"listening":port}, {"req":"METHOD URL","auth":bool,"user"}, {"dump":{…}}.
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const arg = (name) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : undefined);
const token = readFileSync(arg('token-file'), 'utf8').trim();
const clientCA = process.argv.includes('--client-ca') ? readFileSync(arg('client-ca')) : undefined;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let rv = 100;
let oldest = 0; // the first resourceVersion still in the history
const nodes = new Map();
const history = []; // {rv, type, object}
const watchers = new Set();
const pageSize = Number(arg('page-size') ?? 0) || Infinity;
const bookmarkMs = Number(arg('bookmark-ms') ?? 0);

const status = (code, reason, message) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
const clone = (o) => JSON.parse(JSON.stringify(o));

function record(type, node) {
  history.push({ rv, type, object: clone(node) });
  for (const w of watchers) w.send({ type, object: node });
}

function modify(name, fn) {
  const node = nodes.get(name);
  if (!node) return;
  fn(node);
  rv++;
  node.metadata.resourceVersion = String(rv);
  record('MODIFIED', node);
}

function addNode({ name, podCIDRs, internalIP, annotations }) {
  rv++;
  const node = {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name,
      uid: `00000000-0000-4000-8000-${String(rv).padStart(12, '0')}`,
      resourceVersion: String(rv),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', ...(annotations ?? {}) },
    },
    spec: { podCIDR: podCIDRs[0], podCIDRs },
    status: { addresses: [{ type: 'InternalIP', address: internalIP }, { type: 'Hostname', address: name }] },
  };
  nodes.set(name, node);
  record('ADDED', node);
}

function send(res, code, body) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// With --client-ca the TLS handshake asks for a client certificate; one that does not verify is let through the
// handshake and answered 401 (as the API server does), so the client sees an HTTP error, not a TLS one.
const tls = { cert: readFileSync(arg('cert')), key: readFileSync(arg('key')), ...(clientCA ? { ca: clientCA, requestCert: true, rejectUnauthorized: false } : {}) };
const server = createServer(tls, (req, res) => {
  const url = new URL(req.url, 'https://standin');
  const byToken = req.headers.authorization === `Bearer ${token}`;
  const byCert = !!clientCA && req.socket.authorized === true;
  const auth = byToken || byCert;
  const user = byCert ? `x509:${req.socket.getPeerCertificate()?.subject?.CN}` : byToken ? 'token' : undefined;
  out({ req: `${req.method} ${req.url}`, auth, user, rv, oldest });
  if (!auth) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
  const m = /^\/api\/v1\/nodes(?:\/([^/]+))?(\/status)?$/.exec(url.pathname);
  if (!m || (m[2] && !m[1])) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
  const name = m[1] && decodeURIComponent(m[1]);
  const sub = m[2] ? 'status' : '';
  if (req.method === 'GET' && !name && url.searchParams.get('watch')) {
    const from = Number(url.searchParams.get('resourceVersion') || rv);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const w = { frozen: false, send: (ev) => w.frozen || res.write(JSON.stringify(ev) + '\n'), end: () => res.end() };
    if (from < oldest - 1) {
      w.send({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`) });
      return res.end();
    }
    for (const h of history) if (h.rv > from) w.send({ type: h.type, object: h.object });
    if (url.searchParams.get('allowWatchBookmarks') === 'true') w.send({ type: 'BOOKMARK', object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(rv) } } });
    watchers.add(w);
    const t = setTimeout(() => w.end(), Number(url.searchParams.get('timeoutSeconds') || 1800) * 1000);
    const b = bookmarkMs && url.searchParams.get('allowWatchBookmarks') === 'true' ? setInterval(() => w.send({ type: 'BOOKMARK', object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(rv) } } }), bookmarkMs) : undefined;
    req.on('close', () => {
      clearTimeout(t);
      clearInterval(b);
      watchers.delete(w);
    });
    return;
  }
  if (req.method === 'GET' && !name) {
    // Pages: the continue token holds the list's resourceVersion and the offset (a real one is opaque too).
    let listRV = rv;
    let offset = 0;
    const cont = url.searchParams.get('continue');
    if (cont) {
      ({ rv: listRV, offset } = JSON.parse(Buffer.from(cont, 'base64').toString()));
      if (listRV < oldest - 1) return send(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'));
    }
    const all = [...nodes.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const n = Math.min(Number(url.searchParams.get('limit') || Infinity), pageSize);
    const items = all.slice(offset, offset + n);
    const metadata = { resourceVersion: String(listRV) };
    if (offset + n < all.length) metadata.continue = Buffer.from(JSON.stringify({ rv: listRV, offset: offset + n })).toString('base64');
    return send(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata, items });
  }
  const node = name && nodes.get(name);
  if (!node) return send(res, 404, status(404, 'NotFound', `nodes "${name}" not found`));
  if (req.method === 'GET') return send(res, 200, node);
  if (req.method === 'PATCH' && !sub) return send(res, 403, status(403, 'Forbidden', `nodes "${name}" is forbidden: User "system:serviceaccount:cni-ts-system:cni-ts-agent" cannot patch resource "nodes" in API group "" at the cluster scope`));
  if (req.method === 'PATCH') {
    if (req.headers['content-type'] !== 'application/merge-patch+json') return send(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`));
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const patch = JSON.parse(body);
      const ann = node.metadata.annotations;
      for (const [k, v] of Object.entries(patch.metadata?.annotations ?? {})) {
        if (v === null) delete ann[k];
        else ann[k] = v;
      }
      rv++;
      node.metadata.resourceVersion = String(rv);
      record('MODIFIED', node);
      send(res, 200, node);
    });
    return;
  }
  send(res, 405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
});

function run(cmd) {
  if (cmd.ops) for (const c of cmd.ops) run(c);
  else if (cmd.op === 'addNode') addNode(cmd);
  else if (cmd.op === 'deleteNode') {
    const n = nodes.get(cmd.name);
    if (n) {
      nodes.delete(cmd.name);
      rv++;
      record('DELETED', { ...n, metadata: { ...n.metadata, resourceVersion: String(rv) } });
    }
  } else if (cmd.op === 'compact') {
    history.length = 0;
    oldest = rv + 1;
  } else if (cmd.op === 'dropWatches') {
    for (const w of watchers) w.end();
    watchers.clear();
  } else if (cmd.op === 'freezeWatches') {
    for (const w of watchers) w.frozen = true;
    watchers.clear();
  } else if (cmd.op === 'setAddresses') modify(cmd.name, (n) => (n.status.addresses = [...cmd.internalIPs.map((a) => ({ type: 'InternalIP', address: a })), { type: 'Hostname', address: cmd.name }]));
  else if (cmd.op === 'setPodCIDRs') modify(cmd.name, (n) => (n.spec = { podCIDR: cmd.podCIDRs[0], podCIDRs: cmd.podCIDRs }));
  else if (cmd.op === 'annotate') {
    modify(cmd.name, (n) => {
      for (const [k, v] of Object.entries(cmd.annotations)) {
        if (v === null) delete n.metadata.annotations[k];
        else n.metadata.annotations[k] = v;
      }
    });
  } else if (cmd.op === 'heartbeat') modify(cmd.name, (n) => (n.status.conditions = [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date().toISOString() }]));
  else if (cmd.op === 'dump') out({ dump: Object.fromEntries(nodes) });
}

createInterface({ input: process.stdin }).on('line', (line) => run(JSON.parse(line)));

server.listen(Number(arg('port')), arg('host'), () => out({ listening: Number(arg('port')) }));
process.stdin.on('end', () => process.exit(0));
