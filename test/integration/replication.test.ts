import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, type Peer } from '../helpers/peer.js'

interface Row { node: string, state: string }

/** Resolves once every viewer lists every id of `ids` as alive. */
async function converged (viewers: Peer[], ids: string[], timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    for (const v of viewers) {
      const res = await http('GET', `${v.url}/admin/network`)
      const rows = res.status === 200 ? res.json?.data as Row[] : []
      if (!ids.every(id => rows.some(r => r.node === id && r.state === 'alive'))) return false
    }
    return true
  }, timeoutMs, `${viewers.length} peers to list ${ids.length} alive members`)
}

/** Live keys in the peer's own store (admin/status counts the local replica). */
async function localEntries (peer: Peer): Promise<number> {
  const res = await http('GET', `${peer.url}/admin/status`)
  return res.status === 200 ? res.json?.data.entries as number : -1
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

describe('replication over 3 real peers (N=3, W=2, static join)', () => {
  const cluster = `repl-${randomUUID().slice(0, 8)}`
  const args = ['--replicas', '3', '--write-quorum', '2']
  const peers: Peer[] = []
  const values = new Map<string, Buffer>()

  afterAll(async () => { await cleanupPeers() })

  it('200 keys written through A read back byte-identical through C', async () => {
    peers.push(await startPeer({ cluster, args }))
    peers.push(...await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: [...args, '--join', peers[0].mesh] }))))
    await converged(peers, peers.map(p => p.id), 15_000)
    const [a, , c] = peers
    for (let i = 0; i < 200; i++) values.set(`r/${i}-${randomUUID().slice(0, 6)}`, randomBytes(i === 7 ? 1024 * 1024 : 100 + i * 37))
    await pool([...values.keys()], 16, async k => {
      const res = await http('PUT', `${a.url}/add_key/${k}`, values.get(k))
      expect(res.status, `PUT ${k}: ${res.body.toString()}`).toBe(201)
    })
    await pool([...values.keys()], 16, async k => {
      const res = await http('GET', `${c.url}/get_key/${k}`)
      expect(res.status).toBe(200)
      expect(res.body.equals(values.get(k) as Buffer)).toBe(true)
    })
    // N=3 over 3 peers: every peer holds every key.
    await waitFor(async () => (await Promise.all(peers.map(localEntries))).every(n => n === values.size), 10_000, 'every replica to hold every key')
    // The duplicate rule holds through any peer.
    const first = [...values.keys()][0]
    expect((await http('PUT', `${peers[1].url}/add_key/${first}`, 'again')).status).toBe(409)
    const node = await http('GET', `${c.url}/get_node/r/fresh-${randomUUID()}`)
    expect(node.status).toBe(200)
    expect(peers.some(p => (node.json?.data.node as string).startsWith(`${p.url}/add_key/`))).toBe(true)
  })

  it('after a kill -9 of one peer every key stays readable and new writes succeed', async () => {
    const [a, b, c] = peers
    await killPeer(b)
    await pool([...values.keys()], 16, async k => {
      const res = await http('GET', `${c.url}/get_key/${k}`)
      expect(res.status, `GET ${k}`).toBe(200)
      expect(res.body.equals(values.get(k) as Buffer)).toBe(true)
    })
    for (let i = 0; i < 20; i++) {
      const k = `r/after-kill-${i}-${randomUUID().slice(0, 6)}`
      const v = randomBytes(500)
      const res = await http('PUT', `${(i % 2 === 0 ? a : c).url}/add_key/${k}`, v)
      expect(res.status, res.body.toString()).toBe(201)
      values.set(k, v)
    }
  })

  it('a delete the dead peer missed is not resurrected when it restarts', async () => {
    const [a, b, c] = peers
    const doomed = [...values.keys()].slice(0, 10)
    for (const k of doomed) {
      expect((await http('DELETE', `${a.url}/delete_key/${k}`)).status).toBe(200)
      values.delete(k)
    }
    peers[1] = await restartPeer(b)
    await converged(peers, peers.map(p => p.id), 15_000)
    for (const p of peers) {
      for (const k of doomed) {
        expect((await http('GET', `${p.url}/get_key/${k}`)).status, `GET ${k} via ${p.id}`).toBe(404)
        expect((await http('HEAD', `${p.url}/get_key/${k}`)).status).toBe(404)
      }
    }
    // The restarted peer serves every surviving key, the ones written during its absence included.
    await pool([...values.keys()], 16, async k => {
      const res = await http('GET', `${peers[1].url}/get_key/${k}`)
      expect(res.status, `GET ${k}`).toBe(200)
      expect(res.body.equals(values.get(k) as Buffer)).toBe(true)
    })
    // Those reads repaired it: its own store holds exactly the surviving keys again.
    await waitFor(async () => await localEntries(peers[1]) === values.size, 10_000, 'read repair to refill the restarted peer')
    expect((await http('PUT', `${c.url}/add_key/${doomed[0]}`, 'reborn')).status).toBe(201)
    expect((await http('GET', `${peers[1].url}/get_key/${doomed[0]}`)).body.toString()).toBe('reborn')
  })
})
