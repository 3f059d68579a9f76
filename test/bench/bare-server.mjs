// The reference of the storage benchmark: a bare node:http server keeping
// values in a Map, answering the same routes with the same envelope.
import { createServer } from 'node:http'

const values = new Map()
const json = (res, status, body) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

const server = createServer((req, res) => {
  const q = req.url.indexOf('?')
  const path = q === -1 ? req.url : req.url.slice(0, q)
  if (req.method === 'PUT' && path.startsWith('/add_key/')) {
    const key = path.slice(8)
    const parts = []
    req.on('data', c => parts.push(c))
    req.on('end', () => {
      if (values.has(key)) return json(res, 409, { data: null, status: 'ko', msg: 'key already exists' })
      values.set(key, Buffer.concat(parts))
      json(res, 201, { data: { url: `http://${req.headers.host}/get_key${key}` }, status: 'ok', msg: 'key added' })
    })
    return
  }
  if (req.method === 'GET' && path.startsWith('/get_key/')) {
    const v = values.get(path.slice(8))
    if (v === undefined) return json(res, 404, { data: null, status: 'ko', msg: 'key not found' })
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': v.length })
    return res.end(v)
  }
  if (req.method === 'DELETE' && path.startsWith('/delete_key/')) {
    if (!values.delete(path.slice(11))) return json(res, 404, { data: null, status: 'ko', msg: 'key not found' })
    return json(res, 200, { data: null, status: 'ok', msg: 'key deleted' })
  }
  json(res, 404, { data: null, status: 'ko', msg: 'not found' })
})
server.keepAliveTimeout = 72_000
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'bare ready', http: `http://127.0.0.1:${server.address().port}` })}\n`)
})
