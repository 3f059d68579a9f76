// A second reference for the one-peer figures: the same Map server as
// bare-server.mjs on fastify (the gateway's framework), so that a run shows
// what the framework alone adds to bare node:http.
import Fastify from 'fastify'

const values = new Map()
const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', (_req, _payload, done) => { done(null) })

app.put('/add_key/*', (req, reply) => {
  const key = `/${req.params['*']}`
  const parts = []
  req.raw.on('data', c => parts.push(c))
  req.raw.on('end', () => {
    if (values.has(key)) return reply.code(409).send({ data: null, status: 'ko', msg: 'key already exists' })
    values.set(key, Buffer.concat(parts))
    reply.code(201).send({ data: { url: `http://${req.headers.host}/get_key${key}` }, status: 'ok', msg: 'key added' })
  })
  return reply
})
app.get('/get_key/*', (req, reply) => {
  const v = values.get(`/${req.params['*']}`)
  if (v === undefined) return reply.code(404).send({ data: null, status: 'ko', msg: 'key not found' })
  return reply.header('content-type', 'application/octet-stream').send(v)
})
app.delete('/delete_key/*', (req, reply) => {
  if (!values.delete(`/${req.params['*']}`)) return reply.code(404).send({ data: null, status: 'ko', msg: 'key not found' })
  return reply.send({ data: null, status: 'ok', msg: 'key deleted' })
})
app.server.keepAliveTimeout = 72_000
await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`${JSON.stringify({ msg: 'fastify ready', http: `http://127.0.0.1:${app.server.address().port}` })}\n`)
