import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/http.js'
import { labPerTest, netnsUnavailable } from '../helpers/netns.js'
import { startPeer, type Peer } from '../helpers/peer.js'

const unavailable = netnsUnavailable()
if (unavailable !== undefined) console.log(`skipping the mDNS and broadcast tests: ${unavailable}`)

/** The ids a peer has logged as joined members (membership events are logged at info). */
function joinedIds (peer: Peer): Set<string> {
  const ids = new Set<string>()
  for (const line of peer.lines) {
    if (!line.includes('"member joined"')) continue
    const entry = JSON.parse(line) as { member?: string }
    if (entry.member !== undefined) ids.add(entry.member)
  }
  return ids
}

/**
 * Three namespaces on a private bridge, one peer in each, no join list: the
 * peers must find each other with the one discovery method under test.
 * Multicast and broadcast stay inside the namespaces.
 */
describe.skipIf(unavailable !== undefined)('discovery in network namespaces', () => {
  const newLab = labPerTest()

  for (const method of ['mdns', 'broadcast'] as const) {
    it(`peers with --discovery ${method} only find each other`, async () => {
      const lab = newLab(3)
      const cluster = `netns-${method}-${randomUUID().slice(0, 8)}`
      const peers = await Promise.all(lab.namespaces.map(async ns => await startPeer({
        cluster,
        host: ns.ip,
        discovery: method,
        wrap: ['ip', 'netns', 'exec', ns.name],
        // Every namespace may use the default broadcast port: the namespaces have separate stacks.
        args: ['--mesh-port', '31415']
      })))
      await waitFor(() => peers.every(p => {
        const ids = joinedIds(p)
        return peers.every(q => q === p || ids.has(q.id))
      }), 20_000, `three peers to find each other over ${method}`)
      for (const p of peers) expect(joinedIds(p).size).toBe(2)
    })
  }

  it('a peer of another cluster name never joins', async () => {
    const lab = newLab(2)
    const [a, b] = lab.namespaces
    const ours = await startPeer({ cluster: 'netns-ours', host: a.ip, discovery: 'broadcast,mdns', wrap: ['ip', 'netns', 'exec', a.name] })
    const theirs = await startPeer({ cluster: 'netns-theirs', host: b.ip, discovery: 'broadcast,mdns', wrap: ['ip', 'netns', 'exec', b.name] })
    // Wait until each has certainly sent and heard beacons: they log what they ignored.
    await waitFor(() => ours.lines.some(l => l.includes('"pmz ready"')) && theirs.lines.some(l => l.includes('"pmz ready"')), 5_000, 'both ready')
    await waitFor(() => ours.lines.some(l => l.includes('other cluster')), 10_000, 'a beacon of the other cluster to be heard and ignored')
    expect(joinedIds(ours).size).toBe(0)
    expect(joinedIds(theirs).size).toBe(0)
  })
})
