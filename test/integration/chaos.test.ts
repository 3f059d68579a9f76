import { afterAll, describe, expect, it } from 'vitest'
import { runChaos } from '../helpers/chaos.js'
import { cleanupPeers } from '../helpers/peer.js'

describe('lost-acknowledged-write check (small, bounded)', () => {
  afterAll(async () => { await cleanupPeers() })

  it('3 peers, N=3, W=2, ~20 s of writes and deletes under kill -9: nothing acknowledged is lost or resurrected', async () => {
    const s = await runChaos({ peers: 3, durationMs: 20_000, writers: 4, upMs: [2_000, 4_000], downMs: [500, 3_000], settleMs: 30_000 })
    expect(s.kills).toBeGreaterThanOrEqual(2)
    expect(s.writesAcked).toBeGreaterThan(100)
    expect(s.lost).toEqual([])
    expect(s.resurrected).toEqual([])
  }, 150_000)
})
