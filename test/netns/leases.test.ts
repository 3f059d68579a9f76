import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { labPerTest, netnsUnavailable } from '../helpers/netns.js'
import { startPeer, type Peer } from '../helpers/peer.js'

const unavailable = netnsUnavailable()
if (unavailable !== undefined) console.log(`skipping the read-lease partition test: ${unavailable}`)

/** How many reads `peer` answered from its own copy alone, under its read leases. */
async function readsAlone (peer: Peer): Promise<number> {
  const text = (await http('GET', `${peer.url}/metrics`)).body.toString()
  return Number(/^pmz_replication_reads_total\{answered="alone"\} (\d+)$/m.exec(text)?.[1] ?? 0)
}

/**
 * Read leases under a real partition: three peers in network namespaces
 * (N=3, W=2), the test on a leg of its own that stays up. A peer reading a
 * key alone is cut off from the other two, which then delete the key. The
 * delete is acknowledged only once the cut-off peer's leases ran out, so
 * no read through it after the acknowledgement may return the old value.
 */
describe.skipIf(unavailable !== undefined)('read leases across a network partition', () => {
  const newLab = labPerTest()

  it('a peer cut off while it reads alone never serves a value the majority deleted after that', async () => {
    const lab = newLab(3, { hostLeg: true })
    const cluster = `netns-lease-${randomUUID().slice(0, 8)}`
    const args = ['--replicas', '3', '--write-quorum', '2']
    const placed = (i: number): { host: string, wrap: string[] } => ({ host: lab.namespaces[i].ip, wrap: ['ip', 'netns', 'exec', lab.namespaces[i].name] })
    const a = await startPeer({ cluster, args, ...placed(0) })
    const [b, c] = await Promise.all([1, 2].map(async i => await startPeer({ cluster, args: [...args, '--join', a.mesh], ...placed(i) })))
    await converged([a, b, c], [a, b, c].map(p => p.id), 20_000)

    const key = `lease/${randomUUID()}`
    await waitFor(async () => (await http('PUT', `${a.url}/add_key/${key}`, 'old')).status === 201, 20_000, 'the mesh to take a write')
    // c reads the key until it answers alone: it holds leases from a and b, and knows its copy chosen.
    await waitFor(async () => {
      const before = await readsAlone(c)
      const r = await http('GET', `${c.url}/get_key/${key}`)
      expect(r.body.toString()).toBe('old')
      return await readsAlone(c) > before
    }, 20_000, 'c to read the key alone')

    lab.isolate(2, true)
    const deleted = await http('DELETE', `${a.url}/delete_key/${key}`)
    expect(deleted.status, deleted.body.toString()).toBe(200)
    // Acknowledged: c's leases have run out, so c cannot answer alone any more, and cannot reach a quorum.
    for (let i = 0; i < 3; i++) {
      const r = await http('GET', `${c.url}/get_key/${key}`)
      expect(r.status === 200 ? `200 ${r.body.toString()}` : r.status, 'a read through the cut-off peer after the delete').not.toBe('200 old')
      expect(r.status).toBe(503)
    }
    expect((await http('GET', `${b.url}/get_key/${key}`)).status).toBe(404)

    lab.isolate(2, false)
    await converged([a, b, c], [a, b, c].map(p => p.id), 30_000)
    await waitFor(async () => (await http('GET', `${c.url}/get_key/${key}`)).status === 404, 20_000, 'c to read the delete once healed')
  }, 120_000)
})
