import { createHash } from 'node:crypto'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, peakRss, restartPeer, startPeer } from '../helpers/peer.js'

const MIB = 1024 * 1024

/** A deterministic byte stream of `total` bytes, produced on demand (never held whole). */
function generated (total: number, seed = 1): Readable {
  let sent = 0
  const block = Buffer.alloc(MIB)
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + seed) & 0xff
  return new Readable({
    read () {
      if (sent >= total) { this.push(null); return }
      const n = Math.min(block.length, total - sent)
      block[0] = (sent / MIB) & 0xff // vary each MiB so chunks differ
      this.push(Buffer.from(block.subarray(0, n)))
      sent += n
    }
  })
}

/** The content files (values larger than one chunk) under a peer's store, with their sizes. */
function blobFiles (dataDir: string): Array<{ path: string, size: number }> {
  const root = join(dataDir, 'store', 'blobs')
  if (!existsSync(root)) return []
  return readdirSync(root, { recursive: true, withFileTypes: true }).filter(e => e.isFile()).map(e => {
    const path = join(e.parentPath, e.name)
    return { path, size: statSync(path).size }
  })
}

async function sha256Of (stream: Readable): Promise<string> {
  const h = createHash('sha256')
  for await (const c of stream) h.update(c as Buffer)
  return h.digest('hex')
}

describe('durability of one peer', () => {
  afterEach(cleanupPeers)

  it('a kill -9 during an upload leaves no partial key; earlier keys stay intact', async () => {
    const peer = await startPeer({ env: { PMZ_MAXSIZE: '64' } })
    expect((await http('PUT', `${peer.url}/add_key/keep/one.txt`, 'one')).status).toBe(201)
    expect((await http('PUT', `${peer.url}/add_key/keep/two.bin`, Buffer.alloc(3 * MIB, 2))).status).toBe(201)

    // An upload that never finishes: 40 MiB announced, bytes sent until the peer has written part of its file.
    const url = new URL(`${peer.url}/add_key/partial/big.bin`)
    const body = generated(24 * MIB)
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers: { 'content-length': String(40 * MIB) } })
    req.on('error', () => {})
    body.pipe(req, { end: false })
    const kept = blobFiles(peer.dataDir)
    expect(kept).toHaveLength(1) // two.bin's
    await waitFor(() => blobFiles(peer.dataDir).some(f => f.size > 12 * MIB), 20_000, 'part of the upload in its file')
    await killPeer(peer)
    body.destroy()
    req.destroy()

    const again = await restartPeer(peer)
    expect(again.id).toBe(peer.id)
    expect(again.lines.some(l => l.includes('removed an interrupted upload'))).toBe(true)
    expect((await http('GET', `${again.url}/get_key/partial/big.bin`)).status).toBe(404)
    expect((await http('GET', `${again.url}/get_key/keep/one.txt`)).body.toString()).toBe('one')
    expect((await http('GET', `${again.url}/get_key/keep/two.bin`)).body.equals(Buffer.alloc(3 * MIB, 2))).toBe(true)
    expect((await http('GET', `${again.url}/admin/status`)).json!.data.entries).toBe(2)
    // The killed upload's file is gone; only two.bin's remains.
    expect(blobFiles(again.dataDir)).toEqual(kept)
    // The key is free: the upload can be done again.
    expect((await http('PUT', `${again.url}/add_key/partial/big.bin`, 'whole')).status).toBe(201)
  })

  it('streams a 200 MB upload with the peer RSS far below the value size', async () => {
    const peer = await startPeer({ env: { PMZ_MAXSIZE: '256' } })
    const size = 200 * MIB
    const expected = await sha256Of(generated(size))
    const before = peakRss(peer.pid)
    const put = await http('PUT', `${peer.url}/add_key/huge/200mb.bin`, generated(size), { 'content-length': String(size) })
    expect(put.status).toBe(201)
    const rss = peakRss(peer.pid)
    console.log(`peak RSS: ${(before / MIB).toFixed(0)} MB before, ${(rss / MIB).toFixed(0)} MB after a 200 MB upload`)
    // The growth is bounded by buffers and GC lag, not by the value: well under half of it.
    expect(rss - before).toBeLessThan(size / 2)
    expect(rss).toBeLessThan(180 * MIB)

    const got = await new Promise<string>((resolve, reject) => {
      request(`${peer.url}/get_key/huge/200mb.bin`, res => { sha256Of(res).then(resolve, reject) }).on('error', reject).end()
    })
    expect(got).toBe(expected)
  })

  it('with sync = os, every write acknowledged before a kill -9 (mid-stream of writes) is there after the restart', async () => {
    const peer = await startPeer({ env: { PMZ_STORE_SYNC: 'os' } })
    const acked = new Map<string, string>()
    let stop = false
    let next = 0
    const writer = async (): Promise<void> => {
      while (!stop) {
        const key = `os/k${next++}`
        const value = `value of ${key}`
        const r = await http('PUT', `${peer.url}/add_key/${key}`, value).catch(() => undefined)
        if (r?.status === 201) acked.set(key, value)
      }
    }
    const writers = Array.from({ length: 8 }, writer)
    await waitFor(() => acked.size >= 300, 20_000, '300 acknowledged writes')
    await killPeer(peer)
    stop = true
    await Promise.all(writers)

    const again = await restartPeer(peer)
    const missing: string[] = []
    for (const [key, value] of acked) {
      const r = await http('GET', `${again.url}/get_key/${key}`)
      if (r.status !== 200 || r.body.toString() !== value) missing.push(key)
    }
    expect(missing).toEqual([])
  })

  it('stops gracefully on SIGTERM: in-flight uploads finish, data survives a restart', async () => {
    const peer = await startPeer({ env: { PMZ_MAXSIZE: '64' } })
    const url = new URL(`${peer.url}/add_key/graceful/big.bin`)
    const size = 16 * MIB
    const body = generated(size)
    const answer = new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers: { 'content-length': String(size) } },
        res => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      body.pipe(req)
    })
    // Stop while the upload is in flight, once the peer is visibly writing it.
    await waitFor(() => blobFiles(peer.dataDir).some(f => f.size > 2 * MIB), 20_000, 'the upload to reach its file')
    process.kill(peer.pid, 'SIGTERM')
    expect(await answer).toBe(201)
    expect(await peer.exited).toEqual({ code: 0, signal: null })
    expect(peer.lines.some(l => l.includes('pmz stopped'))).toBe(true)

    const again = await restartPeer(peer)
    const head = await http('HEAD', `${again.url}/get_key/graceful/big.bin`)
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe(String(size))
  })
})
