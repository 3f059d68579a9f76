import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { http } from '../helpers/http.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, type Peer } from '../helpers/peer.js'

/**
 * A peer back from a kill -9 that has not found the others yet is not a
 * one-peer cluster: it remembers its ring, and neither takes a write alone
 * (one copy, and a second 201 for a key the others hold) nor calls a key
 * absent that the others hold.
 */
describe('a restarted peer before it rejoins (3 peers, N=3, W=2)', () => {
  const cluster = `alone-${randomUUID().slice(0, 8)}`
  const args = ['--replicas', '3', '--write-quorum', '2']
  const peers: Peer[] = []

  afterAll(async () => { await cleanupPeers() })

  it('answers 503 to writes and reads instead of acting alone, and serves again once it rejoins', async () => {
    peers.push(await startPeer({ cluster, args }))
    peers.push(...await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: [...args, '--join', peers[0].mesh] }))))
    await converged(peers, peers.map(p => p.id), 15_000)
    const [a, b, c] = peers
    const held = `alone/held-${randomUUID().slice(0, 8)}`
    expect((await http('PUT', `${a.url}/add_key/${held}`, 'first')).status).toBe(201)
    await killPeer(c)
    // Back without a join list (the others knew its old port): it cannot find them by itself.
    const back = await restartPeer(c, { args })
    const dup = await http('PUT', `${back.url}/add_key/${held}`, 'second')
    expect(dup.status, dup.body.toString()).toBe(503)
    expect((await http('PUT', `${back.url}/add_key/alone/new-${randomUUID().slice(0, 8)}`, 'x')).status).toBe(503)
    expect((await http('GET', `${back.url}/get_key/${held}`)).status).toBe(503)
    expect((await http('GET', `${a.url}/get_key/${held}`)).body.toString()).toBe('first')
    await killPeer(back)
    // With a join list it finds them and serves the key as the others hold it.
    const rejoined = await restartPeer(c, { args: [...args, '--join', `${a.mesh},${b.mesh}`] })
    await converged([a, b, rejoined], [a.id, b.id, rejoined.id], 15_000)
    expect((await http('GET', `${rejoined.url}/get_key/${held}`)).body.toString()).toBe('first')
    expect((await http('PUT', `${rejoined.url}/add_key/${held}`, 'second')).status).toBe(409)
  }, 90_000)
})
