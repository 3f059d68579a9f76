import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { converged, localEntries, pool, repaired, ringView } from '../helpers/cluster.js'
import { cleanupPeers, killPeer, startPeer, type Peer } from '../helpers/peer.js'

const N = 3
/** Keys written (RB_KEYS overrides, for a larger run by hand). */
const KEYS = Number(process.env.RB_KEYS ?? 300)
const GRACE_S = 2

describe(`rebalancing over real peers (N=${N}, W=2, dead peer grace ${GRACE_S} s)`, () => {
  const cluster = `rebal-${randomUUID().slice(0, 8)}`
  const args = ['--replicas', String(N), '--write-quorum', '2']
  const env = { PMZ_DEAD_PEER_GRACE_S: String(GRACE_S) }
  const peers: Peer[] = []
  const values = new Map<string, Buffer>()

  afterAll(async () => { await cleanupPeers() })

  async function readAll (via: Peer): Promise<void> {
    await pool([...values.keys()], 16, async k => {
      const res = await http('GET', `${via.url}/get_key/${k}`)
      expect(res.status, `GET ${k} via ${via.id}`).toBe(200)
      expect(res.body.equals(values.get(k) as Buffer), k).toBe(true)
    })
  }

  it(`5 peers take ${KEYS} keys; after each of two kills the survivors get back to ${N} copies of every key`, async () => {
    peers.push(await startPeer({ cluster, args, env }))
    peers.push(...await Promise.all([1, 2, 3, 4].map(async () => await startPeer({ cluster, env, args: [...args, '--join', peers[0].mesh] }))))
    await converged(peers, peers.map(p => p.id), 20_000)
    for (let i = 0; i < KEYS; i++) values.set(`rb/${i}-${randomUUID().slice(0, 6)}`, randomBytes(200 + (i * 53) % 4000))
    let i = 0
    await pool([...values.keys()], 16, async k => {
      const res = await http('PUT', `${peers[i++ % peers.length].url}/add_key/${k}`, values.get(k))
      expect(res.status, `PUT ${k}: ${res.body.toString()}`).toBe(201)
    })
    await repaired(peers, KEYS, N, 20_000)
    for (const victim of [peers[4], peers[3]]) {
      const died = Date.now()
      await killPeer(victim)
      peers.splice(peers.indexOf(victim), 1)
      await repaired(peers, KEYS, N, 40_000)
      const ms = Date.now() - died
      const views = await Promise.all(peers.map(ringView))
      console.log(`killed ${victim.id}: ${KEYS} keys back to ${N} copies on ${peers.length} peers ${ms} ms after the kill (grace ${GRACE_S} s; admin/ring lastRepairMs ${views.map(v => v?.lastRepairMs).join(', ')})`)
      await readAll(peers[0])
    }
  }, 90_000)

  it('a sixth peer joins: keys move to it, nothing is lost, the counts are about even', async () => {
    const joined = await startPeer({ cluster, env, args: [...args, '--join', peers[0].mesh] })
    peers.push(joined)
    await converged(peers, peers.map(p => p.id), 20_000)
    const ms = (await repaired(peers, KEYS, N, 60_000)).total
    const counts = await Promise.all(peers.map(localEntries))
    console.log(`joined ${joined.id}: placement settled in ${ms} ms, local keys per peer ${counts.join(', ')}`)
    const even = KEYS * N / peers.length
    for (const c of counts) {
      expect(c).toBeGreaterThan(even * 0.6)
      expect(c).toBeLessThan(even * 1.4)
    }
    await readAll(joined)
    // Every peer of the ring is confirmed in sync by the newcomer's anti-entropy.
    await waitFor(async () => {
      const rows = (await http('GET', `${joined.url}/admin/network`)).json?.data as Array<{ node: string, in_sync?: boolean }>
      return peers.every(p => rows.some(r => r.node === p.id && r.in_sync === true))
    }, 10_000, 'admin/network to mark every peer in_sync')
  }, 90_000)
})
