import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { converged, localEntries, network } from '../helpers/cluster.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, type Peer } from '../helpers/peer.js'

describe('hinted handoff over 3 real peers (N=3, W=2)', () => {
  const cluster = `handoff-${randomUUID().slice(0, 8)}`
  const args = ['--replicas', '3', '--write-quorum', '2']

  afterAll(async () => { await cleanupPeers() })

  it('a peer killed during 50 writes holds all of them soon after its restart, without a read', async () => {
    const a = await startPeer({ cluster, args })
    const [b, c] = await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: [...args, '--join', a.mesh] })))
    await converged([a, b, c], [a.id, b.id, c.id], 15_000)

    await killPeer(c)
    // Wait until B no longer counts C alive, so every write skips it up front (the hint is recorded before the 201).
    await waitFor(async () => {
      const rows = await network(b)
      return rows.some(r => r.node === c.id && r.state !== 'alive')
    }, 20_000, 'B to see C down')

    const keys = Array.from({ length: 50 }, (_, i) => `h/${i}-${randomUUID().slice(0, 6)}`)
    for (const k of keys) {
      const res = await http('PUT', `${b.url}/add_key/${k}`, randomBytes(200 + keys.indexOf(k)))
      expect(res.status, res.body.toString()).toBe(201)
    }
    // A delete C misses is handed off too.
    expect((await http('DELETE', `${b.url}/delete_key/${keys[0]}`)).status).toBe(200)

    const started = Date.now()
    const c2 = await restartPeer(c)
    // No GET, HEAD or list of those keys anywhere: only the hints can bring them.
    await waitFor(async () => await localEntries(c2) === keys.length - 1, 20_000, 'the restarted peer to hold the 49 live keys')
    const tookMs = Date.now() - started
    console.log(`hinted handoff: ${keys.length - 1} keys + 1 tombstone on the restarted peer ${tookMs} ms after its restart began`)
    expect(await localEntries(a)).toBe(keys.length - 1)
    // B's hints brought them (anti-entropy might too, later): its log counts 50 delivered to C.
    const delivered = (): number => b.lines.filter(l => l.includes('"hints delivered"') && l.includes(c.id))
      .reduce((n, l) => n + (JSON.parse(l) as { delivered: number }).delivered, 0)
    await waitFor(() => delivered() === keys.length, 5_000, `B to log ${keys.length} hints delivered (${b.lines.filter(l => l.includes('hint')).join('\n')})`)
  })
})
