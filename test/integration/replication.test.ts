import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { converged, liveKeysOnDisk, localEntries, pool, ringView } from '../helpers/cluster.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, type Peer } from '../helpers/peer.js'

describe('replication over 3 real peers (N=3, W=2, static join)', () => {
  const cluster = `repl-${randomUUID().slice(0, 8)}`
  const args = ['--replicas', '3', '--write-quorum', '2']
  const peers: Peer[] = []
  const values = new Map<string, Buffer>()

  afterAll(async () => { await cleanupPeers() })

  it('1,000 keys written through A read back byte-identical through C', async () => {
    peers.push(await startPeer({ cluster, args }))
    peers.push(...await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: [...args, '--join', peers[0].mesh] }))))
    await converged(peers, peers.map(p => p.id), 15_000)
    const [a, , c] = peers
    for (let i = 0; i < 1000; i++) values.set(`r/${i}-${randomUUID().slice(0, 6)}`, randomBytes(i === 7 ? 1024 * 1024 : 100 + (i * 37) % 8000))
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
    // Without a single read, hinted handoff and anti-entropy bring the
    // restarted peer back: all three data dirs hold exactly the surviving keys.
    const expected = [...values.keys()].map(k => `/${k}`).sort()
    let differences = ''
    await waitFor(() => {
      differences = peers.map(p => difference(liveKeysOnDisk(p.dataDir), expected)).join('; ')
      return differences === ['', '', ''].join('; ')
    }, 30_000, 'all three replicas to hold identical key sets').catch(err => { throw new Error(`${String(err)}; still differing (missing/extra per peer): ${differences}`) })
    // And it serves every surviving key byte-identical, the ones written during its absence included.
    await pool([...values.keys()], 16, async k => {
      const res = await http('GET', `${peers[1].url}/get_key/${k}`)
      expect(res.status, `GET ${k}`).toBe(200)
      expect(res.body.equals(values.get(k) as Buffer)).toBe(true)
    })
    expect((await http('PUT', `${c.url}/add_key/${doomed[0]}`, 'reborn')).status).toBe(201)
    expect((await http('GET', `${peers[1].url}/get_key/${doomed[0]}`)).body.toString()).toBe('reborn')
  })
})

/** '' when `held` is `expected`, else the first few keys missing and extra. */
function difference (held: string[], expected: string[]): string {
  const have = new Set(held)
  const want = new Set(expected)
  const missing = expected.filter(k => !have.has(k))
  const extra = held.filter(k => !want.has(k))
  return missing.length + extra.length === 0 ? '' : `-${missing.length} ${missing.slice(0, 3).join(',')} +${extra.length} ${extra.slice(0, 3).join(',')}`
}

describe('a cluster that grows (N=3, W=2)', () => {
  afterAll(async () => { await cleanupPeers() })

  it('keys written to a lone peer are found, and are duplicates, through peers that just joined, before any repair', async () => {
    const cluster = `grow-${randomUUID().slice(0, 8)}`
    const args = ['--replicas', '3', '--write-quorum', '2']
    const a = await startPeer({ cluster, args })
    const values = new Map<string, Buffer>()
    for (let i = 0; i < 50; i++) values.set(`g/${i}-${randomUUID().slice(0, 6)}`, randomBytes(200 + i * 50))
    await pool([...values.keys()], 8, async k => {
      expect((await http('PUT', `${a.url}/add_key/${k}`, values.get(k))).status).toBe(201)
    })
    const [b, c] = await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: [...args, '--join', a.mesh] })))
    await converged([a, b, c], [a.id, b.id, c.id], 15_000)
    await waitFor(async () => (await ringView(c))?.volumePeers.length === 3, 10_000, 'the new peer to place keys on 3 volume peers')
    await pool([...values.keys()], 8, async k => {
      const res = await http('GET', `${c.url}/get_key/${k}`)
      expect(res.status, `GET ${k} through the new peer`).toBe(200)
      expect(res.body.equals(values.get(k) as Buffer)).toBe(true)
      expect((await http('PUT', `${b.url}/add_key/${k}`, 'second')).status, `duplicate ${k} through the other new peer`).toBe(409)
    })
    for (const k of [...values.keys()].slice(0, 5)) expect((await http('GET', `${a.url}/get_key/${k}`)).body.equals(values.get(k) as Buffer)).toBe(true)
  })
})
