'use strict'
// hello-rest on Express 5 + @godaddy/terminus, as in the background article:
// createTerminus(server, { signals: ['SIGTERM', 'SIGINT'], useExit0: true, timeout: 10000 })
// plus a terminus health check on /health (terminus answers 503 there while shutting down).
const express = require('express')
const { createTerminus } = require('@godaddy/terminus')

const port = parseInt(process.env.PORT || '8080', 10)
const delayMs = parseFloat(process.env.HELLO_REST_REQUEST_DELAY || '0') * 1000

const app = express()

app.get('/', function (req, res) {
  setTimeout(() => res.send('Hello, World!'), delayMs)
})

app.post('/', express.raw({ type: () => true, limit: '10mb' }), function (req, res) {
  setTimeout(() => res.send('Hello, World!'), delayMs)
})

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`express-terminus listening on 127.0.0.1:${port} (delay ${delayMs} ms)`)
})

createTerminus(server, {
  signals: ['SIGTERM', 'SIGINT'],
  useExit0: true,
  timeout: 10000,
  healthChecks: {
    '/health': async () => {}
  }
})
