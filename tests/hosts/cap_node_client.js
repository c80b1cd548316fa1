// cap_node_client.js PORT N HOLD_MS RELEASE - N concurrent net.connect() clients for the cap
// tests: each sends "ping\n", reads the echo, holds the connection HOLD_MS and ends it. Prints
// {"pid": ...} first, {"issued": N} once every connect has started, then one JSON result line
// (successes, failures by error code), and stays alive until the file RELEASE exists (at most
// 20 s) so its stats can be read. Runs the same with or without the preload.
'use strict';
const net = require('net');
const {say, exitWhenReleased} = require('./hostctl');

const [port, n, holdMs] = process.argv.slice(2, 5).map(Number);
const release = process.argv[5];

let ok = 0, done = 0, connectSum = 0, okMax = 0, failMin = Infinity, failMax = 0;
const errors = {};

function finish() {
  say({ok, errors, connect_secs_sum: connectSum, ok_secs_max: okMax,
       fail_secs_min: failMin === Infinity ? 0 : failMin, fail_secs_max: failMax,
       loop: 'node ' + process.version});
  exitWhenReleased(release);
}

function client() {
  const t0 = process.hrtime.bigint();
  const secs = () => Number(process.hrtime.bigint() - t0) / 1e9;
  let connected = -1, got = '', settled = false;
  const settle = (err) => {
    if (settled) return;
    settled = true;
    if (err) {
      const s = connected >= 0 ? connected : secs();
      errors[err.code || err.message] = (errors[err.code || err.message] || 0) + 1;
      failMin = Math.min(failMin, s);
      failMax = Math.max(failMax, s);
      connectSum += s;
    } else {
      ok++;
      okMax = Math.max(okMax, connected);
      connectSum += connected;
    }
  };
  const sock = net.connect({host: '127.0.0.1', port});
  sock.on('connect', () => {
    connected = secs();
    sock.write('ping\n');
  });
  sock.on('data', (d) => {
    got += d.toString();
    if (got === 'ping\n') {
      settle(null);
      setTimeout(() => sock.end(), holdMs);
    }
  });
  sock.on('error', (e) => settle(e));
  sock.on('close', () => {
    if (!settled) settle(new Error('closed before the echo'));
    if (++done === n) finish();
  });
}

say({pid: process.pid, mode: 'node'});
for (let i = 0; i < n; i++) client();
setTimeout(() => say({issued: n}), 100);
