'use strict'
// Hand probe of a peer's SIGTERM behaviour on persistent connections (a handful of requests):
//   node peers/keepalive-probe.js NAME [PORT] [PATH of A's late request, default /]
// Starts peers/NAME/run with HELLO_REST_REQUEST_DELAY=0.5, then
//   A: one keep-alive GET / answered, then left idle;
//   B: a keep-alive GET / in flight when SIGTERM is sent (t=0);
//   at t=0.2 s: A sends one more GET / (if still open), and a new connection C sends GET /.
// Reports what each saw (status, Connection header, server close/EOF times), exit code and time.
const net = require('net')
const path = require('path')
const { spawn } = require('child_process')

const name = process.argv[2]
const port = parseInt(process.argv[3] || '18081', 10)
const morePath = process.argv[4] || '/'
const run = path.join(__dirname, name, 'run')
const t0 = { v: 0 }
const now = () => ((Date.now() - t0.v) / 1000).toFixed(2) + 's'
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

function conn (label) {
  const s = net.connect(port, '127.0.0.1')
  const c = { label, s, buf: '', waiters: [], closed: null, err: null }
  s.on('data', d => { c.buf += d.toString('latin1'); c.poke() })
  s.on('error', e => { c.err = e.code; c.poke() })
  s.on('close', () => { if (!c.closed) c.closed = now(); c.poke() })
  c.poke = () => { const w = c.waiters; c.waiters = []; w.forEach(f => f()) }
  c.ready = new Promise(resolve => { s.on('connect', resolve); s.on('error', resolve) })
  c.request = async (reqPath) => {
    c.buf = ''
    try { s.write(`GET ${reqPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`) } catch (e) {}
    for (;;) {
      const r = parse(c.buf)
      if (r) return r
      if (c.closed || c.err) return { fail: c.err || 'EOF without response', at: now() }
      await new Promise(resolve => c.waiters.push(resolve))
    }
  }
  return c
}

function parse (buf) {
  const i = buf.indexOf('\r\n\r\n')
  if (i < 0) return null
  const head = buf.slice(0, i).split('\r\n')
  const status = parseInt(head[0].split(' ')[1], 10)
  const h = {}
  for (const l of head.slice(1)) { const k = l.indexOf(':'); h[l.slice(0, k).toLowerCase()] = l.slice(k + 1).trim() }
  const body = buf.slice(i + 4)
  if (h['content-length'] !== undefined) {
    if (body.length < parseInt(h['content-length'], 10)) return null
  } else if ((h['transfer-encoding'] || '').includes('chunked')) {
    if (!body.endsWith('0\r\n\r\n')) return null
  }
  return { status, connection: h.connection || '-', at: now() }
}

const show = r => r.fail ? `FAILED (${r.fail}) at ${r.at}` : `${r.status} Connection: ${r.connection} at ${r.at}`

async function main () {
  const child = spawn(run, [], { env: { ...process.env, PORT: String(port), HELLO_REST_REQUEST_DELAY: '0.5' }, stdio: ['ignore', 'ignore', 'ignore'], detached: true })
  const exited = new Promise(resolve => child.on('exit', (code, sig) => resolve({ code, sig, at: now() })))
  for (let i = 0; ; i++) {
    const c = conn('probe'); await c.ready
    if (!c.err) { const r = await c.request('/health'); c.s.destroy(); if (r.status === 200) break }
    if (i > 300) throw new Error('peer never became ready')
    await sleep(100)
  }
  t0.v = Date.now()
  const a = conn('A'); await a.ready
  const a1 = await a.request('/')
  const b = conn('B'); await b.ready
  const bReq = b.request('/')
  await sleep(150)
  t0.v = Date.now()
  child.kill('SIGTERM')
  await sleep(200)
  const aClosedBefore = a.closed
  const a2 = a.closed ? null : a.request(morePath)
  const c = conn('C'); await c.ready
  const c1 = c.err ? { fail: c.err, at: now() } : await c.request('/')
  const b1 = await bReq
  const a2r = a2 ? await a2 : null
  await sleep(300)
  const ex = await Promise.race([exited, sleep(15000).then(() => null)])
  console.log(`peer ${name}: A first request ${show(a1)} (before SIGTERM)`)
  console.log(`  A idle keep-alive: ${aClosedBefore ? 'closed by server at ' + aClosedBefore : 'still open at 0.20s'}`)
  if (a2r) console.log(`  A one more GET ${morePath} at 0.20s: ${show(a2r)}; A closed ${a.closed || 'no'}`)
  console.log(`  B in flight at SIGTERM: ${show(b1)}; B closed ${b.closed || 'no (still open 0.3s later)'}`)
  console.log(`  C new connection at 0.20s: ${show(c1)}`)
  if (ex) console.log(`  exit: code ${ex.code}${ex.sig ? ' signal ' + ex.sig : ''} at ${ex.at}`)
  else { console.log('  exit: still running 15s after SIGTERM; killing'); process.kill(-child.pid, 'SIGKILL') }
  for (const x of [a, b, c]) x.s.destroy()
}
main().catch(e => { console.error(e); process.exit(1) })
