'use strict'
// hello-rest on Express 5 with http-terminator on SIGTERM, as in the http-terminator README:
// const httpTerminator = createHttpTerminator({ server }); await httpTerminator.terminate();
// gracefulTerminationTimeout is set to 10000 ms (default 1000) to match the other peers' 10 s grace.
const express = require('express')
const { createHttpTerminator } = require('http-terminator')

const port = parseInt(process.env.PORT || '8080', 10)
const delayMs = parseFloat(process.env.HELLO_REST_REQUEST_DELAY || '0') * 1000

const app = express()

app.get('/', function (req, res) {
  setTimeout(() => res.send('Hello, World!'), delayMs)
})

app.post('/', express.raw({ type: () => true, limit: '10mb' }), function (req, res) {
  setTimeout(() => res.send('Hello, World!'), delayMs)
})

// http-terminator has no health-check notion: always 200.
app.get('/health', function (req, res) {
  res.send('OK')
})

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`express-terminator listening on 127.0.0.1:${port} (delay ${delayMs} ms)`)
})

const httpTerminator = createHttpTerminator({ server, gracefulTerminationTimeout: 10000 })

process.on('SIGTERM', async () => {
  console.log('SIGTERM signal received: terminating HTTP server')
  await httpTerminator.terminate()
  console.log('HTTP server terminated')
})
