import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http } from '../helpers/http.js'
import { cleanupPeers, startPeer, type Peer } from '../helpers/peer.js'

const MIB = 1024 * 1024

describe('storage API of one peer (pulzar-api.md §4)', () => {
  let peer: Peer
  let base: string
  beforeAll(async () => {
    peer = await startPeer({ env: { PMZ_MAXSIZE: '1' } })
    base = peer.url
  })
  afterAll(cleanupPeers)

  it('stores, reads, heads and deletes a value', async () => {
    const put = await http('PUT', `${base}/add_key/a/b/file.txt`, 'hello pmz\n')
    expect(put.status).toBe(201)
    expect(put.json).toEqual({ data: { url: `${base}/get_key/a/b/file.txt` }, status: 'ok', msg: 'key added' })

    const get = await http('GET', put.json!.data.url)
    expect(get.status).toBe(200)
    expect(get.body.toString()).toBe('hello pmz\n')
    expect(get.headers['content-type']).toBe('application/octet-stream')
    expect(get.headers['content-length']).toBe('10')
    expect(get.headers['access-control-allow-origin']).toBe('*')

    const head = await http('HEAD', `${base}/get_key/a/b/file.txt`)
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe('10')
    expect(head.body.length).toBe(0)

    const del = await http('DELETE', `${base}/delete_key/a/b/file.txt`)
    expect(del.status).toBe(200)
    expect(del.json).toEqual({ data: null, status: 'ok', msg: 'key deleted' })
    expect((await http('GET', `${base}/get_key/a/b/file.txt`)).status).toBe(404)
    expect((await http('HEAD', `${base}/get_key/a/b/file.txt`)).status).toBe(404)
    const again = await http('DELETE', `${base}/delete_key/a/b/file.txt`)
    expect(again.status).toBe(404)
    expect(again.json).toEqual({ data: null, status: 'ko', msg: 'key not found' })
    // A deleted key can be stored again at once.
    expect((await http('PUT', `${base}/add_key/a/b/file.txt`, 'second')).status).toBe(201)
    expect((await http('GET', `${base}/get_key/a/b/file.txt`)).body.toString()).toBe('second')
  })

  it('refuses a duplicate add_key with 409 and keeps the first value', async () => {
    expect((await http('PUT', `${base}/add_key/dup.txt`, 'first')).status).toBe(201)
    const dup = await http('PUT', `${base}/add_key/dup.txt`, 'second')
    expect(dup.status).toBe(409)
    expect(dup.json).toEqual({ data: null, status: 'ko', msg: 'key already exists' })
    expect((await http('GET', `${base}/get_key/dup.txt`)).body.toString()).toBe('first')
  })

  it('streams multi-chunk values exactly, chunked bodies and empty bodies included', async () => {
    const big = randomBytes(MIB - 7)
    expect((await http('PUT', `${base}/add_key/big/v1.bin`, big)).status).toBe(201)
    const got = await http('GET', `${base}/get_key/big/v1.bin`)
    expect(got.body.equals(big)).toBe(true)
    expect(got.headers.etag).toBe(`"${createHash('sha256').update(big).digest('hex')}"`)

    const chunked = Readable.from([randomBytes(300_000), randomBytes(300_000)])
    const res = await http('PUT', `${base}/add_key/big/chunked.bin`, chunked)
    expect(res.status).toBe(201)
    expect((await http('HEAD', `${base}/get_key/big/chunked.bin`)).headers['content-length']).toBe('600000')

    expect((await http('PUT', `${base}/add_key/empty.bin`, '')).status).toBe(201)
    const empty = await http('GET', `${base}/get_key/empty.bin`)
    expect(empty.status).toBe(200)
    expect(empty.headers['content-length']).toBe('0')
  })

  it('enforces maxsize (MiB, inclusive) before and while reading, leaving nothing behind', async () => {
    const before = (await http('GET', `${base}/admin/status`)).json!.data.entries
    expect((await http('PUT', `${base}/add_key/max/exact.bin`, Buffer.alloc(MIB, 1))).status).toBe(201)

    const over = await http('PUT', `${base}/add_key/max/over.bin`, Buffer.alloc(MIB + 1, 1))
    expect(over.status).toBe(413)
    expect(over.json).toEqual({ data: null, status: 'ko', msg: 'max size allowed is 1MB' })

    const overChunked = await http('PUT', `${base}/add_key/max/over-chunked.bin`, Readable.from([Buffer.alloc(MIB), Buffer.alloc(10)]))
    expect(overChunked.status).toBe(413)

    expect((await http('GET', `${base}/get_key/max/over.bin`)).status).toBe(404)
    expect((await http('GET', `${base}/get_key/max/over-chunked.bin`)).status).toBe(404)
    expect((await http('GET', `${base}/admin/status`)).json!.data.entries).toBe(before + 1)
  })

  it('get_node returns a URL that accepts the upload directly', async () => {
    const res = await http('GET', `${base}/get_node/node/up.txt?temporal=2`)
    expect(res.status).toBe(200)
    expect(res.json!.msg).toBe('ok')
    const node = res.json!.data.node as string
    expect(node).toBe(`${base}/add_key/node/up.txt?temporal=2`)
    const put = await http('PUT', node, 'direct')
    expect(put.status).toBe(201)
    expect((await http('GET', `${base}/get_key/node/up.txt`)).body.toString()).toBe('direct')
    expect((await http('GET', `${base}/get_node/node/up.txt`)).status).toBe(409)
    expect((await http('PUT', `${base}/get_node/node/x.txt`, 'x')).status).toBe(405)
  })

  it('expires temporal keys; temporal must be an integer >= -1', async () => {
    expect((await http('PUT', `${base}/add_key/tmp/now.txt?temporal=0`, 'x')).status).toBe(201)
    expect((await http('GET', `${base}/get_key/tmp/now.txt`)).status).toBe(404)

    expect((await http('PUT', `${base}/add_key/tmp/three.txt?temporal=3`, 'x')).status).toBe(201)
    const listed = await http('GET', `${base}/admin/keys?prefix=/tmp/three`)
    const row = listed.json!.data[0]
    expect(Date.parse(row.expires) - Date.parse(row.created)).toBe(3 * 86_400_000)

    expect((await http('PUT', `${base}/add_key/tmp/forever.txt?temporal=-1`, 'x')).status).toBe(201)
    for (const bad of ['abc', '1.5', '-2', '']) {
      const res = await http('PUT', `${base}/add_key/tmp/bad.txt?temporal=${bad}`, 'x')
      expect(res.status, `temporal=${bad}`).toBe(400)
    }
    expect((await http('GET', `${base}/get_key/tmp/bad.txt`)).status).toBe(404)
  })

  it('rejects malformed keys with 400', async () => {
    const bad = ['a//b', 'a/../b', 'a/./b', 'a/b/', 'my%01file', 'sp%20ace', 'x'.repeat(256), `${'abc/'.repeat(300)}x`, '%E0%A4%A', 'caf%C3%A9']
    for (const k of bad) {
      const res = await http('PUT', `${base}/add_key/${k}`, 'x')
      expect(res.status, k).toBe(400)
      expect(res.json!.status).toBe('ko')
      expect(res.json!.msg).toMatch(/^invalid (key|URL)/)
    }
    expect((await http('PUT', `${base}/add_key/`, 'x')).status).toBe(400)
    // Pulzar refused these; pmz accepts them.
    for (const k of ['v1.2/f.txt', 'my-file.txt', 'a/{x}/b|c~d+e']) {
      const res = await http('PUT', `${base}/add_key/${k}`, 'ok')
      expect(res.status, k).toBe(201)
      expect((await http('GET', res.json!.data.url)).body.toString()).toBe('ok')
    }
  })

  it('answers wrong methods with 405 and Allow, unknown routes with 404, OPTIONS with CORS', async () => {
    const wrong = await http('GET', `${base}/add_key/a.txt`)
    expect(wrong.status).toBe(405)
    expect(wrong.headers.allow).toBe('PUT, OPTIONS')
    expect(wrong.json!.status).toBe('ko')
    expect((await http('POST', `${base}/delete_key/a.txt`)).status).toBe(405)

    for (const path of ['/nothing/here', '/skynet/sync', '/autodiscovery', '/send_job', '/notification_job']) {
      const res = await http('GET', `${base}${path}`)
      expect(res.status, path).toBe(404)
      expect(res.json).toMatchObject({ data: null, status: 'ko' })
    }

    const opt = await http('OPTIONS', `${base}/anything/at/all`)
    expect(opt.status).toBe(200)
    expect(opt.json).toEqual({ data: null, status: 'ok', msg: 'options' })
    expect(opt.headers['access-control-allow-origin']).toBe('*')
    expect(opt.headers['access-control-allow-headers']).toBe('Origin, X-Requested-With, Content-Type, Accept, Authorization')
    expect(String(opt.headers['access-control-allow-methods'])).toContain('PUT')
  })

  it('admin/status and admin/network answer the contract shapes', async () => {
    const status = await http('GET', `${base}/admin/status`)
    expect(status.status).toBe(200)
    for (const f of ['psize', 'depth', 'branch_pages', 'leaf_pages', 'overflow_pages', 'entries']) {
      expect(Number.isInteger(status.json!.data[f]), f).toBe(true)
    }
    const network = await http('GET', `${base}/admin/network`)
    expect(network.json!.status).toBe('ok')
    const [self] = network.json!.data
    expect(self).toMatchObject({ node: peer.id, synch: true, http: base })
    expect(Number.isInteger(self.percent)).toBe(true)
    expect(typeof self.load).toBe('number')
    const one = await http('GET', `${base}/admin/network/${peer.id}`)
    expect(one.json!.data).toMatchObject({ node: peer.id, synch: true })
    expect((await http('GET', `${base}/admin/network/nobody`)).status).toBe(404)
  })
})
