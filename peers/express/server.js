'use strict'
// hello-rest on Express 5 with plain http.Server.close() on SIGTERM, as in the Express guide
// "Health checks and graceful shutdown": stop accepting, let the process exit when the server
// has closed. (Since node 19, server.close() also closes idle keep-alive connections.)
const express = require('express')

const port = parseInt(process.env.PORT || '8080', 10)
const delayMs = parseFloat(process.env.HELLO_REST_REQUEST_DELAY || '0') * 1000

const app = express()

app.get('/', function (req, res) {
  setTimeout(() => res.send('Hello, World!'), delayMs)
})

app.post('/', express.raw({ type: () => true, limit: '10mb' }), function (req, res) {
  setTimeout(() => res.send('Hello, World!'), delayMs)
})

// No notion of "shutting down" in plain Express: always 200.
app.get('/health', function (req, res) {
  res.send('OK')
})

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`express listening on 127.0.0.1:${port} (delay ${delayMs} ms)`)
})

process.on('SIGTERM', () => {
  console.log('SIGTERM signal received: closing HTTP server')
  server.close(() => {
    console.log('HTTP server closed')
  })
})
