import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/http.js'
import { converged, network } from '../helpers/cluster.js'
import { cleanupPeers, killPeer, startPeer } from '../helpers/peer.js'

// Issue 13 item 4: a peer stopped with SIGTERM (or Ctrl-C) leaves; the
// others must show it `left`, never suspect or dead.

describe('a clean stop is a leave, not a crash (3 real peers, static join)', () => {
  afterAll(async () => { await cleanupPeers() })

  it('after SIGTERM the others show the peer left, never suspect or dead', async () => {
    const cluster = `stop-${randomUUID().slice(0, 8)}`
    const seed = await startPeer({ cluster })
    const others = await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: ['--join', seed.mesh] })))
    const peers = [seed, ...others]
    await converged(peers, peers.map(p => p.id), 20_000)

    const victim = others[0]
    const watchers = [seed, others[1]]
    const seen = new Set<string>()
    // What the watchers log from the signal on (a suspicion before it, on a loaded machine, is not about the stop).
    const from = watchers.map(w => w.lines.length)
    const t0 = Date.now()
    await killPeer(victim, 'SIGTERM')
    const exitMs = Date.now() - t0
    await waitFor(async () => {
      const states = await Promise.all(watchers.map(async w => (await network(w)).find(r => r.node === victim.id)?.state))
      for (const s of states) if (s !== undefined) seen.add(s)
      return states.every(s => s === 'left')
    }, 5_000, 'both watchers to show the stopped peer left', 25)
    console.log(`SIGTERM: exited in ${exitMs} ms, shown left ${Date.now() - t0} ms after the signal`)
    expect(victim.lines.some(l => l.includes('membership stopped (left)'))).toBe(true)
    expect([...seen].filter(s => s !== 'alive' && s !== 'left')).toEqual([])
    watchers.forEach((w, i) => {
      expect(w.lines.slice(from[i]).filter(l => l.includes(victim.id) && /"peer (suspect|dead)"|member (suspected|dead)/.test(l))).toEqual([])
    })
  })
})
