// Node's http2 client for bench/h2clients: POSTs at RATE per second over
// CONNS sessions for DURATION_MS; a session that gets a GOAWAY or closes is
// replaced (new requests go to the new one); nothing is retried. Prints one
// line per outcome class: "ok N", "ERR_HTTP2_STREAM_ERROR:NGHTTP2_REFUSED_STREAM N"...
'use strict';
const http2 = require('http2');
const [url, rate, conns, durationMs] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
const counts = new Map();
const count = (k) => counts.set(k, (counts.get(k) || 0) + 1);
const sessions = new Array(conns).fill(null);
function session(i) {
  let s = sessions[i];
  if (s && !s.closed && !s.destroyed && !s.goawayed) return s;
  s = http2.connect(url, { rejectUnauthorized: false });
  s.on('error', () => {});
  s.on('goaway', (code, last) => { s.goawayed = true; s.lastStreamID = Math.min(s.lastStreamID || 2 ** 31, last); });
  sessions[i] = s;
  return s;
}
const total = Math.floor(rate * durationMs / 1000);
let sent = 0, ended = 0;
const start = Date.now();
function send() {
  const s = session(sent % conns);
  sent++;
  let status = 0, done = false;
  const finish = (k) => { if (done) return; done = true; count(k); ended++; if (ended === total) report(); };
  let req;
  try {
    req = s.request({ ':method': 'POST', ':path': '/', 'content-length': '1' });
  } catch (e) {
    finish(e.code || 'throw');
    return;
  }
  req.setTimeout(10000, () => { req.close(http2.constants.NGHTTP2_CANCEL); finish('timeout'); });
  req.on('response', (h) => { status = h[':status']; });
  req.on('data', () => {});
  req.on('end', () => finish(status === 200 ? 'ok' : 'status_' + status));
  // Where the stream stood against the GOAWAYs this session's JS had seen
  // when the error came (the C++ side may have read one the event has not
  // reported yet): no id (never started), above the lowest last-stream-id
  // seen, or no GOAWAY seen yet / at or below it.
  req.on('error', (e) => finish((e.code || 'error') + (e.message.match(/NGHTTP2_\w+/) ? ':' + e.message.match(/NGHTTP2_\w+/)[0] : '') +
    (req.id === undefined ? ':no_id' : s.lastStreamID === undefined ? ':no_goaway_seen' : req.id > s.lastStreamID ? ':above_goaway' : ':within_goaway')));
  req.end('x');
}
const timer = setInterval(() => {
  const due = Math.min(total, Math.floor((Date.now() - start) * rate / 1000) + 1);
  while (sent < due) send();
  if (sent >= total) clearInterval(timer);
}, 1);
function report() {
  for (const [k, v] of counts) console.log(k + ' ' + v);
  for (const s of sessions) if (s) s.destroy();
  process.exit(0);
}
setTimeout(() => { count('never_ended'); for (let i = ended + 1; i < total; i++) count('never_ended'); report(); }, durationMs + 15000);
